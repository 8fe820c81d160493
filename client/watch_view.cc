#include "client/watch_view.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cli_output.h"

namespace vitte::task {
namespace {

std::string Elapsed(int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms < 60'000) return absl::StrCat(ms / 1000, ".", (ms % 1000) / 100, "s");
  return absl::FormatDuration(absl::Trunc(absl::Milliseconds(ms), absl::Seconds(1)));
}

std::string Bar(int64_t done, int64_t total, int width) {
  if (width < 1) width = 1;
  int filled = total <= 0 ? 0 : static_cast<int>(done * width / total);
  return absl::StrCat("[", std::string(filled, '#'),
                      std::string(width - filled, '.'), "]");
}

}  // namespace

std::vector<std::string> WatchView::Apply(const v1::EventBatch& batch) {
  std::vector<std::string> lines;
  for (const v1::GraphEvent& e : batch.events()) {
    graph_id_ = e.graph_id();
    counts_ = e.counts();
    state_ = e.graph_state();
    if (e.task_id().empty()) {
      if (!e.graph_name().empty()) graph_name_ = e.graph_name();
      if (e.graph_finished()) {
        finished_ = true;
        running_.clear();
      }
      continue;
    }
    if (e.task_state() == v1::TASK_STATE_RUNNING) {
      running_[e.task_id()] = {e.worker(), e.time_ms()};
      continue;
    }
    running_.erase(e.task_id());
    // Told once per attempt: a compacted batch after a reconnect restates
    // failures this view may already have shown.
    const bool new_attempt =
        told_.insert({e.task_id(), e.attempt_id()}).second;
    if (e.task_state() == v1::TASK_STATE_FAILED && new_attempt) {
      lines.push_back(absl::StrCat(
          "FAILED ", e.task_id(), " (exit code ", e.exit_code(),
          e.worker().empty() ? "" : ", on ", e.worker(),
          e.error().empty() ? "" : ": ", e.error(), ")"));
    } else if (e.task_state() == v1::TASK_STATE_READY &&
               e.attempt_state() == v1::ATTEMPT_STATE_LOST && new_attempt) {
      lines.push_back(absl::StrCat("lost   ", e.task_id(), " (attempt ",
                                   e.attempt_number(), " on ", e.worker(),
                                   "), will run again"));
    }
  }
  return lines;
}

std::string WatchView::Render(int64_t now_ms, int width, int max_running) const {
  const v1::TaskCounts& c = counts_;
  const int64_t done = c.succeeded() + c.failed() + c.skipped() + c.cancelled();
  std::string out = absl::StrCat(
      "graph ", graph_id_, graph_name_.empty() ? "" : " \"", graph_name_,
      graph_name_.empty() ? "" : "\"", ": ", StateName(state_), "\n");
  const std::string count = absl::StrCat(" ", done, "/", c.total());
  absl::StrAppend(&out, Bar(done, c.total(),
                            std::max<int>(10, width - 2 - count.size())),
                  count, "\n");
  absl::StrAppend(&out, "succeeded ", c.succeeded(), "  failed ", c.failed(),
                  "  skipped ", c.skipped(), "  cancelled ", c.cancelled(),
                  "  running ", c.running(), "  waiting ",
                  c.ready() + c.pending(), "\n");
  std::vector<std::pair<std::string, Running>> running(running_.begin(),
                                                       running_.end());
  std::sort(running.begin(), running.end(), [](const auto& a, const auto& b) {
    return a.second.since_ms != b.second.since_ms
               ? a.second.since_ms < b.second.since_ms
               : a.first < b.first;
  });
  const int shown = std::min<int>(max_running, running.size());
  for (int i = 0; i < shown; ++i) {
    const auto& [task, r] = running[i];
    std::string line = absl::StrCat("  ", task, "  on ", r.worker, "  ",
                                    Elapsed(now_ms - r.since_ms));
    if (static_cast<int>(line.size()) > width) line.resize(width);
    absl::StrAppend(&out, line, "\n");
  }
  if (static_cast<int>(running.size()) > shown) {
    absl::StrAppend(&out, "  ... and ", running.size() - shown, " more\n");
  }
  return out;
}

}  // namespace vitte::task
