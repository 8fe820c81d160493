#include "coordinator/coordinator_metrics.h"

#include <algorithm>

namespace vitte::task {

CoordinatorMetrics::CoordinatorMetrics(MetricsRegistry& r)
    : attempts_started(
          r.AddCounter("vitte_attempts_started_total",
                       "Attempts started: tasks dispatched to a worker.")),
      attempts_lost(r.AddCounter(
          "vitte_attempts_lost_total",
          "Attempts lost with their worker (lease expired, stream broken "
          "past the reconnect grace, worker back without them, or its "
          "worker not back after a coordinator restart).")),
      attempts_requeued(r.AddCounter(
          "vitte_attempts_requeued_total",
          "Attempts handed back by a worker that left (goodbye, e.g. at the "
          "end of a drain); their tasks are ready again, no loss counted.")),
      task_retries(r.AddCounter(
          "vitte_task_retries_total",
          "Failed attempts whose task will run again (attempts left).")),
      results_fenced(r.AddCounter(
          "vitte_results_fenced_total",
          "Results refused because their attempt was not the current one of "
          "the reporting session (lost, re-queued, cancelled or already "
          "reported).")),
      dispatch_latency(r.AddHistogram(
          "vitte_dispatch_latency_seconds",
          "Time from a task becoming ready to its attempt being assigned to "
          "a worker.",
          LatencyBuckets())),
      commit_seconds(r.AddHistogram(
          "vitte_db_commit_seconds",
          "Duration of one group-commit transaction (Store::Commit).",
          LatencyBuckets())),
      commit_rows(r.AddHistogram(
          "vitte_db_commit_rows",
          "Rows written by one group-commit transaction: graphs, tasks and "
          "attempts (a new graph counts one row per task).",
          SizeBuckets())),
      task_duration(r.AddHistogramFamily(
          "vitte_task_duration_seconds",
          "Run time of an attempt, dispatch to end, by outcome: succeeded, "
          "failed, lost, cancelled.",
          {"outcome"}, DurationBuckets())),
      tasks_finished(r.AddCounterFamily(
          "vitte_tasks_finished_total",
          "Tasks that reached a final state since start, by state: "
          "succeeded, failed, skipped, cancelled.",
          {"state"})),
      tasks_(r.AddGaugeFamily("vitte_tasks",
                              "Tasks of the unfinished graphs, by state.",
                              {"state"})),
      graphs_running_(r.AddGauge("vitte_graphs_running", "Unfinished graphs.")),
      ready_queue_depth_(r.AddGauge(
          "vitte_ready_queue_depth",
          "Entries in the ready queue (may include stale entries of tasks "
          "no longer ready, which are removed lazily).")),
      attempts_running_(r.AddGauge("vitte_attempts_running",
                                   "Attempts running (assigned, no result "
                                   "yet).")),
      workers_connected_(r.AddGauge("vitte_workers_connected",
                                    "Worker sessions with an open stream.")),
      workers_disconnected_(r.AddGauge(
          "vitte_workers_disconnected",
          "Worker sessions whose stream broke, waiting for the reconnect "
          "grace.")),
      slots_(r.AddGauge("vitte_slots", "Slots of the connected workers.")),
      slots_busy_(
          r.AddGauge("vitte_slots_busy",
                     "Slots of the connected workers running an attempt.")) {
  // Every series exists from the start, so that rates start at zero.
  for (TaskState s : {TaskState::kSucceeded, TaskState::kFailed,
                      TaskState::kSkipped, TaskState::kCancelled}) {
    tasks_finished_[Index(s)] = &tasks_finished.WithLabels({TaskStateName(s)});
  }
  for (AttemptState s : {AttemptState::kSucceeded, AttemptState::kFailed,
                         AttemptState::kLost, AttemptState::kCancelled}) {
    task_duration_[Index(s)] = &task_duration.WithLabels({AttemptStateName(s)});
  }
  for (TaskState s :
       {TaskState::kPending, TaskState::kReady, TaskState::kRunning,
        TaskState::kSucceeded, TaskState::kFailed, TaskState::kSkipped,
        TaskState::kCancelled}) {
    tasks_by_state_[Index(s)] = &tasks_.WithLabels({TaskStateName(s)});
  }
}

void CoordinatorMetrics::AttemptStarted(int64_t ready_at_us, int64_t now_us) {
  attempts_started.Increment();
  if (ready_at_us <= 0) return;
  // A clock stepped back would make it negative.
  dispatch_latency.Observe(std::max<int64_t>(now_us - ready_at_us, 0) / 1e6);
}

void CoordinatorMetrics::AttemptEnded(const AttemptRecord& attempt) {
  Histogram* h = task_duration_[Index(attempt.state)];
  if (h == nullptr) return;
  h->Observe(
      std::max<int64_t>(attempt.finished_at_ms - attempt.started_at_ms, 0) /
      1e3);
}

void CoordinatorMetrics::Committed(absl::Duration took,
                                   const StoreWrites& writes) {
  commit_seconds.Observe(absl::ToDoubleSeconds(took));
  size_t rows =
      writes.tasks.size() + writes.attempts.size() + writes.graphs.size();
  for (const StoreWrites::NewGraph& g : writes.new_graphs) {
    rows += 1 + g.spec->tasks.size();
  }
  commit_rows.Observe(static_cast<double>(rows));
}

void CoordinatorMetrics::SetStats(const CoordinatorStats& s) {
  const TaskCounts& t = s.tasks;
  tasks_by_state_[Index(TaskState::kPending)]->Set(t.pending);
  tasks_by_state_[Index(TaskState::kReady)]->Set(t.ready);
  tasks_by_state_[Index(TaskState::kRunning)]->Set(t.running);
  tasks_by_state_[Index(TaskState::kSucceeded)]->Set(t.succeeded);
  tasks_by_state_[Index(TaskState::kFailed)]->Set(t.failed);
  tasks_by_state_[Index(TaskState::kSkipped)]->Set(t.skipped);
  tasks_by_state_[Index(TaskState::kCancelled)]->Set(t.cancelled);
  graphs_running_.Set(s.graphs_running);
  ready_queue_depth_.Set(s.ready_queue_depth);
  attempts_running_.Set(s.attempts_running);
  workers_connected_.Set(s.workers_connected);
  workers_disconnected_.Set(s.workers_disconnected);
  slots_.Set(s.slots);
  slots_busy_.Set(s.slots_busy);
}

}  // namespace vitte::task
