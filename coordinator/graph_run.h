// The in-memory state machine of one unfinished graph: task states, counts of
// unfinished dependencies, retries and skip propagation. Pure logic: no
// store, no clock, no locks; the Coordinator persists what it returns.
#ifndef VITTE_COORDINATOR_GRAPH_RUN_H_
#define VITTE_COORDINATOR_GRAPH_RUN_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "common/dag.h"
#include "common/graph_spec.h"
#include "coordinator/types.h"

namespace vitte::task {

// One task state transition, as reported to the caller.
struct TaskChange {
  int32_t index;
  TaskState state;
};

// Not thread-safe; owned and locked by the Coordinator.
class GraphRun {
 public:
  // `tasks` gives each task's persisted status (all pending for a new graph).
  // Tasks pending whose deps have all succeeded become ready, and tasks left
  // running (an attempt without result) are kept running.
  GraphRun(GraphRecord record, GraphSpec spec, Dag dag,
           std::vector<TaskStatus> tasks);
  // The same with a spec and dag that others share (the store's pending
  // insert of a new graph reads them while the graph runs).
  GraphRun(GraphRecord record, std::shared_ptr<const GraphSpec> spec,
           std::shared_ptr<const Dag> dag, std::vector<TaskStatus> tasks);

  const GraphRecord& record() const { return record_; }
  GraphRecord& mutable_record() { return record_; }
  const GraphSpec& spec() const { return *spec_; }
  const std::shared_ptr<const GraphSpec>& shared_spec() const { return spec_; }
  const std::shared_ptr<const Dag>& shared_dag() const { return dag_; }
  const TaskSpec& task(int32_t i) const { return spec_->tasks[i]; }
  const TaskStatus& status(int32_t i) const { return tasks_[i]; }
  const TaskCounts& counts() const { return counts_; }
  size_t size() const { return tasks_.size(); }
  bool finished() const { return counts_.unfinished() == 0; }

  // Notes the sequence number of the last event about task i.
  void SetSequence(int32_t i, uint64_t sequence) {
    tasks_[i].sequence = sequence;
  }
  // Index of the task named `id`, or -1. Linear: for rare requests only.
  int32_t IndexOf(const std::string& id) const;

  // Tasks that are ready (in index order); used once after construction to
  // seed the ready queue.
  std::vector<int32_t> ReadyTasks() const;

  // Every change below appends each transition it makes to `changed`, in
  // order; the caller persists and publishes them.

  // ready -> running under a new attempt.
  void Start(int32_t i, AttemptId attempt, std::vector<TaskChange>& changed);
  // running -> succeeded; dependents whose last dep this was become ready.
  void Succeed(int32_t i, std::vector<TaskChange>& changed);
  // running -> ready while attempts remain (not before `retry_at_ms`), else
  // failed, and then every transitive dependent is skipped. Returns true
  // when the task failed for good.
  bool Fail(int32_t i, std::vector<TaskChange>& changed,
            int64_t retry_at_ms = 0);
  // running -> ready: the attempt ended through no fault of the task or of
  // its worker (handed back by a draining worker, coordinator restart).
  void Requeue(int32_t i, std::vector<TaskChange>& changed);
  // running -> ready: the attempt was lost with its worker. This does not
  // count against max_attempts, but the `max_lost`-th loss fails the task
  // for good (a task that kills every worker it touches must stop), and its
  // dependents are skipped. Returns true when the task failed for good.
  bool Lose(int32_t i, int32_t max_lost, std::vector<TaskChange>& changed);
  // Every unfinished task of `targets` -> cancelled; then their pending
  // transitive dependents -> skipped. Cancelling first makes the outcome
  // independent of the order of `targets`: a target is never skipped
  // because another target was cancelled. Returns the attempts that were
  // running.
  std::vector<AttemptId> Cancel(const std::vector<int32_t>& targets,
                                std::vector<TaskChange>& changed);
  // One task; returns the attempt that was running, or 0.
  AttemptId Cancel(int32_t i, std::vector<TaskChange>& changed);

  // The graph's final state, valid once finished().
  GraphState FinalState() const;

 private:
  void SetState(int32_t i, TaskState s, std::vector<TaskChange>& changed);
  // Marks every unfinished transitive dependent of `root` skipped, naming
  // `root` as the cause.
  void SkipDependents(int32_t root, std::vector<TaskChange>& changed);

  GraphRecord record_;
  // Immutable once the graph is accepted, so shared without a lock.
  std::shared_ptr<const GraphSpec> spec_;
  std::shared_ptr<const Dag> dag_;
  std::vector<TaskStatus> tasks_;
  // unsucceeded_deps_[i]: deps of task i not yet succeeded. A pending task
  // becomes ready when this reaches 0.
  std::vector<int32_t> unsucceeded_deps_;
  TaskCounts counts_;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_GRAPH_RUN_H_
