#include "coordinator/estimate.h"

#include <algorithm>
#include <deque>

namespace vitte::task {

int64_t MedianMs(std::vector<int64_t> values) {
  if (values.empty()) return -1;
  auto mid = values.begin() + (values.size() - 1) / 2;
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

GraphEstimate Estimator::Estimate(const Dag& dag,
                                  absl::Span<const TaskProgress> tasks,
                                  int32_t slots) const {
  GraphEstimate e;
  e.now_ms = clock_.NowMs();
  e.slots = std::max(slots, 0);
  const size_t n = tasks.size();
  if (dag.size() != n) return e;  // not the same graph: nothing to say

  // Expected duration of each task: its own history first. Tasks without
  // one take the median of what is known in this graph (history, and the
  // tasks that already ran in this run), since the tasks of one graph tend
  // to be alike (e.g. all compile steps); a fixed default only when
  // nothing is known at all.
  std::vector<int64_t> from_history(n, -1);
  std::vector<int64_t> known;
  for (size_t i = 0; i < n; ++i) {
    const TaskProgress& t = tasks[i];
    if (!t.past_ms.empty()) {
      from_history[i] = MedianMs(t.past_ms);
      ++e.tasks_with_history;
      known.push_back(from_history[i]);
    } else if (t.state == TaskState::kSucceeded && t.took_ms >= 0) {
      known.push_back(t.took_ms);
    }
  }
  e.default_task_ms = known.empty()
                          ? absl::ToInt64Milliseconds(
                                options_.default_task_duration)
                          : MedianMs(std::move(known));
  e.expected_ms.resize(n);
  // Remaining time of each unfinished task; -1 for finished ones, which
  // are on no path. A running task that overran its expectation is given
  // 0: it should end any moment, and there is nothing better to say.
  std::vector<int64_t> remaining(n, -1);
  for (size_t i = 0; i < n; ++i) {
    e.expected_ms[i] =
        from_history[i] >= 0 ? from_history[i] : e.default_task_ms;
    switch (tasks[i].state) {
      case TaskState::kPending:
      case TaskState::kReady:
        remaining[i] = e.expected_ms[i];
        break;
      case TaskState::kRunning: {
        int64_t elapsed = tasks[i].started_at_ms > 0
                              ? std::max<int64_t>(
                                    e.now_ms - tasks[i].started_at_ms, 0)
                              : 0;
        remaining[i] = std::max<int64_t>(e.expected_ms[i] - elapsed, 0);
        break;
      }
      default:
        break;
    }
  }

  // Longest path ending at each task, over dependencies first (Kahn's
  // order; the dag is acyclic). finish[i] is when task i would end if
  // every task started as soon as its unfinished dependencies ended, with
  // `now` as 0. Worked example: a(2s) -> b(3s), c(1s) -> b: finish(a) = 2,
  // finish(c) = 1, finish(b) = 3 + max(2, 1) = 5, through a.
  std::vector<int64_t> finish(n, 0);
  std::vector<int32_t> through(n, -1);  // the dependency on that path
  std::vector<int64_t> waiting(n);
  std::deque<int32_t> ready;
  for (size_t i = 0; i < n; ++i) {
    waiting[i] = static_cast<int64_t>(dag.deps(i).size());
    if (waiting[i] == 0) ready.push_back(static_cast<int32_t>(i));
  }
  int32_t last = -1;
  while (!ready.empty()) {
    const int32_t i = ready.front();
    ready.pop_front();
    if (remaining[i] >= 0) {
      int64_t start = 0;
      for (int32_t d : dag.deps(i)) {
        // Ties go to the lowest index, so the answer is deterministic.
        if (remaining[d] >= 0 &&
            (through[i] < 0 || finish[d] > start ||
             (finish[d] == start && d < through[i]))) {
          start = finish[d];
          through[i] = d;
        }
      }
      finish[i] = start + remaining[i];
      e.remaining_work_ms += remaining[i];
      if (last < 0 || finish[i] > finish[last] ||
          (finish[i] == finish[last] && i < last)) {
        last = i;
      }
    }
    for (int32_t next : dag.dependents(i)) {
      if (--waiting[next] == 0) ready.push_back(next);
    }
  }
  if (last < 0) return e;  // every task finished

  for (int32_t i = last; i >= 0; i = through[i]) e.critical_path.push_back(i);
  std::reverse(e.critical_path.begin(), e.critical_path.end());
  e.critical_path_ms = finish[last];
  e.remaining_ms = e.critical_path_ms;
  if (e.slots > 0) {
    e.remaining_ms = std::max(
        e.remaining_ms, (e.remaining_work_ms + e.slots - 1) / e.slots);
  }
  e.eta_ms = e.now_ms + e.remaining_ms;
  return e;
}

}  // namespace vitte::task
