// The coordinator's metrics (see README, "Metrics"): counters and
// histograms it records as things happen, and gauges set from a
// CoordinatorStats once per scrape.
#ifndef VITTE_COORDINATOR_COORDINATOR_METRICS_H_
#define VITTE_COORDINATOR_COORDINATOR_METRICS_H_

#include <array>
#include <cstdint>

#include "absl/time/time.h"
#include "common/metrics.h"
#include "coordinator/store.h"
#include "coordinator/types.h"

namespace vitte::task {

// What the coordinator holds at one moment, for gauges.
struct CoordinatorStats {
  // Tasks of the unfinished graphs (those in memory), by state.
  TaskCounts tasks;
  int64_t graphs_running = 0;
  // Entries of the ready queue; may include stale entries not yet removed
  // (tasks cancelled, graphs finished), which tasks.ready does not.
  int64_t ready_queue_depth = 0;
  int64_t attempts_running = 0;
  // Sessions whose stream is open (draining ones included), and those whose
  // stream broke and who may still come back within the reconnect grace.
  int64_t workers_connected = 0;
  int64_t workers_disconnected = 0;
  // Over connected workers: their slots, and the slots running an attempt
  // (attempts queued on a worker beyond its slots, see prefetch, are not
  // counted as busy slots).
  int64_t slots = 0;
  int64_t slots_busy = 0;
};

// Thread-safe: every method only touches atomics (or, for SetStats,
// gauges). Keeps references into its registry, which must outlive it.
class CoordinatorMetrics {
 public:
  explicit CoordinatorMetrics(MetricsRegistry& registry);

  // A task entered `state`; counts those that are final.
  void TaskStateEntered(TaskState state) {
    if (Counter* c = tasks_finished_[Index(state)]) c->Increment();
  }
  // An attempt was started (dispatched) at `now_us` for a task ready since
  // `ready_at_us` (0: unknown, the latency is not recorded). Unix µs.
  void AttemptStarted(int64_t ready_at_us, int64_t now_us);
  // An attempt ended (its state and both times set): its run time, by
  // outcome.
  void AttemptEnded(const AttemptRecord& attempt);
  // A transaction of the group commit: how long Store::Commit took, and
  // what it wrote.
  void Committed(absl::Duration took, const StoreWrites& writes);
  void SetStats(const CoordinatorStats& stats);

  Counter& attempts_started;
  Counter& attempts_lost;
  Counter& attempts_requeued;
  Counter& task_retries;
  Counter& results_fenced;
  Histogram& dispatch_latency;
  Histogram& commit_seconds;
  Histogram& commit_rows;
  // By AttemptState (succeeded, failed, lost, cancelled).
  HistogramFamily& task_duration;
  // By TaskState (the final ones).
  CounterFamily& tasks_finished;

 private:
  static size_t Index(TaskState s) { return static_cast<size_t>(s); }
  static size_t Index(AttemptState s) { return static_cast<size_t>(s); }

  // Series looked up once: indexed by enum value, null for states that are
  // not counted (TaskState values 1..7, AttemptState values 1..5).
  std::array<Counter*, 8> tasks_finished_{};
  std::array<Histogram*, 6> task_duration_{};
  GaugeFamily& tasks_;
  std::array<Gauge*, 8> tasks_by_state_{};
  Gauge& graphs_running_;
  Gauge& ready_queue_depth_;
  Gauge& attempts_running_;
  Gauge& workers_connected_;
  Gauge& workers_disconnected_;
  Gauge& slots_;
  Gauge& slots_busy_;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_COORDINATOR_METRICS_H_
