// The output half of Coordinator: chunks streamed by workers, and reading
// an attempt's output back.
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"
#include "spdlog/spdlog.h"

namespace vitte::task {
namespace {

// Most bytes of one stream in one GetLogs answer: a 1 GiB head is read in
// pieces, not in one message.
constexpr size_t kMaxLogSliceBytes = 4 << 20;

}  // namespace

int Coordinator::ReportOutput(SessionId session,
                              std::vector<OutputChunk> chunks) {
  int fenced = 0;
  uint64_t seq = 0;
  {
    absl::MutexLock lock(&mu_);
    const uint64_t limit =
        static_cast<uint64_t>(std::max<int64_t>(options_.max_log_bytes, 0));
    Effects fx;
    for (OutputChunk& c : chunks) {
      auto it = attempts_.find(c.attempt_id);
      if (it == attempts_.end() || it->second.session_id != session) {
        // Output in flight when the attempt was cancelled, lost or handed
        // over is common and harmless: no warning.
        ++fenced;
        continue;
      }
      // Only the head is kept; a worker that sends more (or an older limit)
      // is trimmed here.
      if (c.data.empty() || c.offset >= limit) continue;
      if (c.data.size() > limit - c.offset) c.data.resize(limit - c.offset);
      fx.writes.output.push_back(std::move(c));
    }
    if (fenced > 0) {
      spdlog::debug("session {}: {} output chunks dropped (not a current "
                    "attempt of this session)",
                    session, fenced);
    }
    if (fx.writes.output.empty()) return fenced;
    seq = Apply(fx);
  }
  // Nobody waits for output: it shares the next commit.
  Finish(seq, /*wait_durable=*/false);
  return fenced;
}

absl::StatusOr<LogsView> Coordinator::GetLogs(const LogsQuery& query) {
  ASSIGN_OR_RETURN(auto cursor, ParseLogCursor(query.cursor));
  OutputQuery q;
  q.graph_id = query.graph_id;
  q.task_id = query.task_id;
  q.number = query.attempt;
  q.read[0] = query.read_stdout;
  q.read[1] = query.read_stderr;
  q.from[0] = cursor.first;
  q.from[1] = cursor.second;
  q.max_bytes = kMaxLogSliceBytes;
  if (query.attempt < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attempt ", query.attempt, " of task \"", query.task_id,
        "\": attempts are numbered from 1 (0 = the latest)"));
  }
  {
    // A live graph knows its task indices; the store would have to scan
    // the graph's tasks for the id.
    absl::MutexLock lock(&mu_);
    auto g = graphs_.find(query.graph_id);
    if (g != graphs_.end()) {
      q.task_index = g->second->IndexOf(query.task_id);
      if (q.task_index < 0) {
        return absl::NotFoundError(absl::StrCat(
            "graph ", query.graph_id, " has no task ", Quoted(query.task_id)));
      }
    }
  }
  ASSIGN_OR_RETURN(AttemptOutput stored, store_.ReadAttemptOutput(q));
  LogsView view;
  view.attempt = std::move(stored.attempt);
  const AttemptRecord& a = view.attempt;
  const bool ended = a.state != AttemptState::kRunning;
  const bool has_result =
      a.state == AttemptState::kSucceeded || a.state == AttemptState::kFailed;
  view.finished = ended;
  for (int i = 0; i < 2; ++i) {
    if (!q.read[i]) continue;
    StreamOutput s;
    for (OutputChunk& c : stored.chunks[i]) {
      s.head.push_back({c.offset, std::move(c.data)});
    }
    // With chunks left unread, the tail must wait for the next request.
    s.ended = ended && !stored.cut[i];
    s.has_result = has_result && !stored.cut[i];
    s.total_bytes = i == 0 ? a.stdout_bytes : a.stderr_bytes;
    s.tail = i == 0 ? a.stdout_tail : a.stderr_tail;
    s.head_limit =
        static_cast<uint64_t>(std::max<int64_t>(options_.max_log_bytes, 0));
    LogSlice slice = ReadStream(s, q.from[i], kMaxLogSliceBytes);
    if (stored.cut[i]) slice.more = true;
    view.finished &= slice.complete;
    view.more |= slice.more;
    (i == 0 ? view.out : view.err) = std::move(slice);
  }
  view.next_cursor =
      FormatLogCursor(q.read[0] ? view.out.next : cursor.first,
                      q.read[1] ? view.err.next : cursor.second);
  return view;
}

}  // namespace vitte::task
