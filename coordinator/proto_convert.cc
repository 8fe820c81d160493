#include "coordinator/proto_convert.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace vitte::task {
namespace {

template <typename ProtoMap>
std::map<std::string, std::string> ToMap(const ProtoMap& in) {
  return std::map<std::string, std::string>(in.begin(), in.end());
}

template <typename ProtoMap>
void FillMap(const std::map<std::string, std::string>& in, ProtoMap& out) {
  for (const auto& [k, v] : in) out[k] = v;
}

void ToProto(const TaskCounts& in, v1::TaskCounts& out) {
  out.set_pending(in.pending);
  out.set_ready(in.ready);
  out.set_running(in.running);
  out.set_succeeded(in.succeeded);
  out.set_failed(in.failed);
  out.set_skipped(in.skipped);
  out.set_cancelled(in.cancelled);
  out.set_total(in.total());
}

void ToProto(const TaskSpec& in, v1::TaskSpec& out) {
  out.set_id(in.id);
  for (const auto& arg : in.command) out.add_command(arg);
  for (const auto& dep : in.deps) out.add_deps(dep);
  FillMap(in.env, *out.mutable_env());
  out.set_cwd(in.cwd);
  out.set_priority(in.priority);
  out.set_max_attempts(in.max_attempts);
  out.set_timeout_s(in.timeout_s);
  FillMap(in.labels, *out.mutable_labels());
}

void ToProto(const AttemptRecord& in, v1::Attempt& out) {
  out.set_attempt_id(in.id);
  out.set_number(in.number);
  out.set_worker(in.worker);
  out.set_state(static_cast<v1::AttemptState>(in.state));
  out.set_started_at_ms(in.started_at_ms);
  out.set_finished_at_ms(in.finished_at_ms);
  out.set_exit_code(in.exit_code);
  out.set_signal(in.signal);
  out.set_timed_out(in.timed_out);
  out.set_error(in.error);
  out.set_stdout_tail(in.stdout_tail);
  out.set_stderr_tail(in.stderr_tail);
}

}  // namespace

// The domain enums use the wire numbers, so casts are exact.
static_assert(static_cast<int>(TaskState::kCancelled) ==
              v1::TASK_STATE_CANCELLED);
static_assert(static_cast<int>(GraphState::kCancelled) ==
              v1::GRAPH_STATE_CANCELLED);
static_assert(static_cast<int>(AttemptState::kCancelled) ==
              v1::ATTEMPT_STATE_CANCELLED);
static_assert(static_cast<int>(OutputStream::kStdout) ==
              v1::OUTPUT_STREAM_STDOUT);
static_assert(static_cast<int>(OutputStream::kStderr) ==
              v1::OUTPUT_STREAM_STDERR);

GraphSpec FromProto(const v1::GraphSpec& in) {
  GraphSpec out;
  out.name = in.name();
  out.tasks.reserve(in.tasks_size());
  for (const v1::TaskSpec& t : in.tasks()) {
    out.tasks.push_back(FromProto(v1::TaskSpec(t)));
  }
  return out;
}

TaskSpec FromProto(v1::TaskSpec&& t) {
  TaskSpec task;
  task.id = std::move(*t.mutable_id());
  task.command.reserve(t.command_size());
  for (std::string& arg : *t.mutable_command()) {
    task.command.push_back(std::move(arg));
  }
  task.deps.reserve(t.deps_size());
  for (std::string& dep : *t.mutable_deps()) task.deps.push_back(std::move(dep));
  task.env = ToMap(t.env());
  task.cwd = t.cwd();
  task.priority = t.priority();
  task.max_attempts = t.max_attempts();
  task.timeout_s = t.timeout_s();
  task.labels = ToMap(t.labels());
  return task;
}

AttemptOutcome FromProto(const v1::AttemptResult& in) {
  AttemptOutcome out;
  out.attempt_id = in.attempt_id();
  out.success = in.success();
  out.exit_code = in.exit_code();
  out.signal = in.signal();
  out.timed_out = in.timed_out();
  out.error = in.error();
  out.stdout_tail = in.stdout_tail();
  out.stderr_tail = in.stderr_tail();
  out.started_at_ms = in.started_at_ms();
  out.finished_at_ms = in.finished_at_ms();
  out.stdout_bytes = in.stdout_bytes();
  out.stderr_bytes = in.stderr_bytes();
  return out;
}

std::optional<OutputChunk> FromProto(v1::OutputChunk&& in) {
  if (in.stream() != v1::OUTPUT_STREAM_STDOUT &&
      in.stream() != v1::OUTPUT_STREAM_STDERR) {
    return std::nullopt;
  }
  OutputChunk out;
  out.attempt_id = in.attempt_id();
  out.stream = static_cast<OutputStream>(in.stream());
  out.offset = in.offset();
  out.data = std::move(*in.mutable_data());
  return out;
}

void ToProto(const LogsView& in, v1::GetLogsResponse& out) {
  out.set_attempt(in.attempt.number);
  out.set_attempt_id(in.attempt.id);
  out.set_state(static_cast<v1::AttemptState>(in.attempt.state));
  out.set_worker(in.attempt.worker);
  auto fill = [](const LogSlice& slice, uint64_t total, v1::LogText& text) {
    text.set_data(slice.text);
    text.set_truncated(slice.truncated);
    text.set_total_bytes(total);
  };
  fill(in.out, in.attempt.stdout_bytes, *out.mutable_stdout_log());
  fill(in.err, in.attempt.stderr_bytes, *out.mutable_stderr_log());
  out.set_next_cursor(in.next_cursor);
  out.set_finished(in.finished);
  out.set_more(in.more);
}

WorkerRegistration FromProto(const v1::Register& in) {
  return {in.name(),
          in.slots(),
          ToMap(in.labels()),
          ToMap(in.serve_labels()),
          {in.held_attempt_ids().begin(), in.held_attempt_ids().end()},
          in.prefetch()};
}

void ToProto(const GraphSummaryView& in, v1::GraphSummary& out) {
  out.set_graph_id(FormatGraphId(in.record.id));
  out.set_name(in.record.name);
  out.set_state(static_cast<v1::GraphState>(in.record.state));
  ToProto(in.counts, *out.mutable_counts());
  out.set_created_at_ms(in.record.created_at_ms);
  out.set_finished_at_ms(in.record.finished_at_ms);
  out.set_owner(in.record.owner);
}

void ToProto(const GraphView& in, v1::Graph& out) {
  ToProto(GraphSummaryView{in.record, in.counts}, *out.mutable_summary());
  out.mutable_tasks()->Reserve(static_cast<int>(in.tasks.size()));
  for (size_t i = 0; i < in.tasks.size(); ++i) {
    v1::Task& task = *out.add_tasks();
    ToProto(in.spec.tasks[i], *task.mutable_spec());
    task.set_state(static_cast<v1::TaskState>(in.tasks[i].state));
    int32_t cause = in.tasks[i].skipped_because;
    if (cause >= 0 && static_cast<size_t>(cause) < in.spec.tasks.size()) {
      task.set_skipped_because(in.spec.tasks[cause].id);
    }
    for (const AttemptRecord& a : in.attempts[i]) {
      ToProto(a, *task.add_attempts());
    }
  }
}

void ToProto(const TaskEvent& in, v1::GraphEvent& out) {
  out.set_sequence(in.sequence);
  out.set_graph_id(FormatGraphId(in.graph_id));
  out.set_task_id(in.task_id);
  if (in.task_index >= 0) {
    out.set_task_state(static_cast<v1::TaskState>(in.task_state));
  }
  out.set_attempt_id(in.attempt_id);
  out.set_worker(in.worker);
  out.set_exit_code(in.exit_code);
  out.set_skipped_because(in.skipped_because);
  ToProto(in.counts, *out.mutable_counts());
  out.set_graph_state(static_cast<v1::GraphState>(in.graph_state));
  out.set_graph_finished(in.graph_finished);
  out.set_time_ms(in.time_ms);
  out.set_graph_name(in.graph_name);
  if (in.attempt_id != 0) {
    out.set_attempt_state(static_cast<v1::AttemptState>(in.attempt_state));
    out.set_attempt_number(in.attempt_number);
  }
  out.set_error(in.error);
}

void ToProto(const Assignment& in, v1::Assignment& out) {
  out.set_attempt_id(in.attempt_id);
  out.set_graph_id(FormatGraphId(in.graph_id));
  out.set_task_id(in.task_id);
  for (const auto& arg : in.command) out.add_command(arg);
  FillMap(in.env, *out.mutable_env());
  out.set_cwd(in.cwd);
  out.set_timeout_s(in.timeout_s);
  FillMap(in.labels, *out.mutable_labels());
}

void ToProto(const WorkerView& in, v1::WorkerInfo& out) {
  out.set_name(in.name);
  out.set_slots(in.slots);
  out.set_prefetch(in.prefetch);
  out.set_running(in.running);
  FillMap(in.labels, *out.mutable_labels());
  FillMap(in.serve_labels, *out.mutable_serve_labels());
  out.set_connected_at_ms(in.connected_at_ms);
  out.set_session_id(in.session_id);
  out.set_connected(in.connected);
  out.set_draining(in.draining);
  out.set_last_seen_ms(in.last_seen_ms);
}

absl::StatusOr<GraphId> ParseGraphId(const std::string& id) {
  GraphId out = 0;
  if (!absl::SimpleAtoi(id, &out) || out <= 0) {
    return absl::NotFoundError(
        absl::StrCat("unknown graph \"", id.substr(0, 64), "\""));
  }
  return out;
}

std::string FormatGraphId(GraphId id) { return absl::StrCat(id); }

absl::StatusOr<LogsQuery> FromProto(const v1::GetLogsRequest& in) {
  LogsQuery query;
  ASSIGN_OR_RETURN(query.graph_id, ParseGraphId(in.graph_id()));
  query.task_id = in.task_id();
  query.attempt = in.attempt();
  query.read_stdout = in.streams() != v1::LOG_STREAMS_STDERR;
  query.read_stderr = in.streams() != v1::LOG_STREAMS_STDOUT;
  query.cursor = in.cursor();
  return query;
}

}  // namespace vitte::task
