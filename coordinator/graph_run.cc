#include "coordinator/graph_run.h"

#include <memory>
#include <utility>

namespace vitte::task {

GraphRun::GraphRun(GraphRecord record, GraphSpec spec, Dag dag,
                   std::vector<TaskStatus> tasks)
    : GraphRun(std::move(record),
               std::make_shared<const GraphSpec>(std::move(spec)),
               std::make_shared<const Dag>(std::move(dag)), std::move(tasks)) {}

GraphRun::GraphRun(GraphRecord record, std::shared_ptr<const GraphSpec> spec,
                   std::shared_ptr<const Dag> dag,
                   std::vector<TaskStatus> tasks)
    : record_(std::move(record)),
      spec_(std::move(spec)),
      dag_(std::move(dag)),
      tasks_(std::move(tasks)),
      unsucceeded_deps_(tasks_.size(), 0) {
  for (size_t i = 0; i < tasks_.size(); ++i) {
    for (int32_t d : dag_->deps(i)) {
      if (tasks_[d].state != TaskState::kSucceeded) ++unsucceeded_deps_[i];
    }
    if (tasks_[i].state == TaskState::kPending && unsucceeded_deps_[i] == 0) {
      tasks_[i].state = TaskState::kReady;
    }
    counts_.Add(tasks_[i].state);
  }
}

int32_t GraphRun::IndexOf(const std::string& id) const {
  for (size_t i = 0; i < spec_->tasks.size(); ++i) {
    if (spec_->tasks[i].id == id) return static_cast<int32_t>(i);
  }
  return -1;
}

std::vector<int32_t> GraphRun::ReadyTasks() const {
  std::vector<int32_t> out;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    if (tasks_[i].state == TaskState::kReady) {
      out.push_back(static_cast<int32_t>(i));
    }
  }
  return out;
}

void GraphRun::SetState(int32_t i, TaskState s, std::vector<TaskChange>& changed) {
  counts_.Add(tasks_[i].state, -1);
  counts_.Add(s);
  tasks_[i].state = s;
  changed.push_back({i, s});
}

void GraphRun::Start(int32_t i, AttemptId attempt,
                     std::vector<TaskChange>& changed) {
  TaskStatus& t = tasks_[i];
  t.attempts++;
  t.current_attempt = attempt;
  SetState(i, TaskState::kRunning, changed);
}

void GraphRun::Succeed(int32_t i, std::vector<TaskChange>& changed) {
  tasks_[i].current_attempt = 0;
  SetState(i, TaskState::kSucceeded, changed);
  for (int32_t d : dag_->dependents(i)) {
    if (--unsucceeded_deps_[d] == 0 && tasks_[d].state == TaskState::kPending) {
      SetState(d, TaskState::kReady, changed);
    }
  }
}

bool GraphRun::Fail(int32_t i, std::vector<TaskChange>& changed,
                    int64_t retry_at_ms) {
  TaskStatus& t = tasks_[i];
  t.current_attempt = 0;
  t.failures++;
  if (t.failures < spec_->tasks[i].max_attempts) {
    t.not_before_ms = retry_at_ms;
    SetState(i, TaskState::kReady, changed);
    return false;
  }
  SetState(i, TaskState::kFailed, changed);
  SkipDependents(i, changed);
  return true;
}

bool GraphRun::Lose(int32_t i, int32_t max_lost,
                    std::vector<TaskChange>& changed) {
  TaskStatus& t = tasks_[i];
  t.current_attempt = 0;
  t.lost++;
  if (t.lost < max_lost) {
    SetState(i, TaskState::kReady, changed);
    return false;
  }
  SetState(i, TaskState::kFailed, changed);
  SkipDependents(i, changed);
  return true;
}

void GraphRun::Requeue(int32_t i, std::vector<TaskChange>& changed) {
  tasks_[i].current_attempt = 0;
  SetState(i, TaskState::kReady, changed);
}

std::vector<AttemptId> GraphRun::Cancel(const std::vector<int32_t>& targets,
                                        std::vector<TaskChange>& changed) {
  std::vector<AttemptId> running;
  std::vector<int32_t> cancelled;
  for (int32_t i : targets) {
    if (IsFinished(tasks_[i].state)) continue;
    if (AttemptId a = std::exchange(tasks_[i].current_attempt, 0); a != 0) {
      running.push_back(a);
    }
    SetState(i, TaskState::kCancelled, changed);
    cancelled.push_back(i);
  }
  for (int32_t i : cancelled) SkipDependents(i, changed);
  return running;
}

AttemptId GraphRun::Cancel(int32_t i, std::vector<TaskChange>& changed) {
  std::vector<AttemptId> running = Cancel(std::vector<int32_t>{i}, changed);
  return running.empty() ? 0 : running.front();
}

void GraphRun::SkipDependents(int32_t root, std::vector<TaskChange>& changed) {
  // Breadth-first, so each skipped task names the failed task it is
  // reached from. A dependent of an unsucceeded task can only be pending, so
  // nothing running is touched.
  std::vector<int32_t> frontier = {root};
  for (size_t head = 0; head < frontier.size(); ++head) {
    for (int32_t d : dag_->dependents(frontier[head])) {
      if (tasks_[d].state != TaskState::kPending) continue;
      tasks_[d].skipped_because = root;
      SetState(d, TaskState::kSkipped, changed);
      frontier.push_back(d);
    }
  }
}

GraphState GraphRun::FinalState() const {
  if (counts_.succeeded == counts_.total()) return GraphState::kSucceeded;
  if (record_.cancel_requested) return GraphState::kCancelled;
  return GraphState::kFailed;
}

}  // namespace vitte::task
