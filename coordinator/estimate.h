// When will a graph finish? Expected task durations from earlier runs, the
// critical path through the unfinished tasks, and an ETA. Plain domain
// logic for the dashboard: no store, no protobuf, time from a Clock.
#ifndef VITTE_COORDINATOR_ESTIMATE_H_
#define VITTE_COORDINATOR_ESTIMATE_H_

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "common/dag.h"
#include "coordinator/types.h"

namespace vitte::task {

// What the estimator knows of one task of the graph.
struct TaskProgress {
  TaskState state = TaskState::kPending;
  // Start of the running attempt (state kRunning), ms since the epoch.
  int64_t started_at_ms = 0;
  // For a succeeded task: how long its last attempt took; -1 if unknown.
  int64_t took_ms = -1;
  // Durations of its succeeded attempts in earlier runs, any order.
  std::vector<int64_t> past_ms;
};

struct GraphEstimate {
  int64_t now_ms = 0;
  // now_ms + remaining_ms; 0 when no task is left to run.
  int64_t eta_ms = 0;
  // max(critical_path_ms, ceil(remaining_work_ms / slots)).
  int64_t remaining_ms = 0;
  int64_t critical_path_ms = 0;
  // Task indices, the first to run first. Empty when nothing is left.
  std::vector<int32_t> critical_path;
  int64_t remaining_work_ms = 0;
  int32_t slots = 0;
  // Expected duration of a whole run of each task.
  std::vector<int64_t> expected_ms;
  int32_t tasks_with_history = 0;
  int64_t default_task_ms = 0;
};

struct EstimatorOptions {
  // What a task takes when neither it nor any task of its graph has a
  // known duration.
  absl::Duration default_task_duration = absl::Seconds(10);
};

// Stateless apart from its options and clock; thread-safe.
class Estimator {
 public:
  // `clock` must outlive the estimator.
  explicit Estimator(const Clock& clock, EstimatorOptions options = {})
      : clock_(clock), options_(options) {}

  // Estimates the rest of a graph whose structure is `dag` and whose tasks
  // (parallel to the dag's nodes) are `tasks`. `slots`: free and busy slots
  // of the workers that can take its tasks; 0 to ignore worker capacity.
  //
  // The result is an honest lower bound, not a schedule: the critical path
  // assumes every task starts as soon as its dependencies end, and the
  // work bound assumes the graph has every slot to itself and no task
  // waits. It ignores labels, priorities, other graphs, retries and
  // failures (a failed task ends its dependents, which only shortens the
  // graph).
  GraphEstimate Estimate(const Dag& dag, absl::Span<const TaskProgress> tasks,
                         int32_t slots) const;

 private:
  const Clock& clock_;
  const EstimatorOptions options_;
};

// The median of `values` (the lower middle one for an even count); -1 for
// none. Robust to the odd run that waited on a cold cache or a busy disk.
int64_t MedianMs(std::vector<int64_t> values);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_ESTIMATE_H_
