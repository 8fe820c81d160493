#include "coordinator/estimate.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/dag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A dag over tasks named by their position in `deps` ("0", "1", ...).
Dag MakeDag(const std::vector<std::vector<int>>& deps) {
  std::vector<std::string> ids;
  std::vector<std::vector<std::string>> dep_ids(deps.size());
  for (size_t i = 0; i < deps.size(); ++i) ids.push_back(std::to_string(i));
  for (size_t i = 0; i < deps.size(); ++i) {
    for (int d : deps[i]) dep_ids[i].push_back(ids[d]);
  }
  absl::StatusOr<Dag> dag = Dag::Build(
      deps.size(), [&](size_t i) -> const std::string& { return ids[i]; },
      [&](size_t i) -> const std::vector<std::string>& { return dep_ids[i]; });
  EXPECT_TRUE(dag.ok()) << dag.status();
  return *std::move(dag);
}

TaskProgress Pending(std::vector<int64_t> past = {}) {
  TaskProgress p;
  p.past_ms = std::move(past);
  return p;
}

TaskProgress Running(int64_t started_at_ms, std::vector<int64_t> past) {
  TaskProgress p;
  p.state = TaskState::kRunning;
  p.started_at_ms = started_at_ms;
  p.past_ms = std::move(past);
  return p;
}

TaskProgress Done(TaskState state, int64_t took_ms = -1) {
  TaskProgress p;
  p.state = state;
  p.took_ms = took_ms;
  return p;
}

class EstimatorTest : public ::testing::Test {
 protected:
  int64_t now() const { return clock_.NowMs(); }

  FakeClock clock_;
  Estimator estimator_{clock_};
};

TEST(MedianTest, LowerMiddleOfSortedValues) {
  EXPECT_EQ(MedianMs({}), -1);
  EXPECT_EQ(MedianMs({7}), 7);
  EXPECT_EQ(MedianMs({3000, 1000, 2000}), 2000);
  EXPECT_EQ(MedianMs({4, 1, 3, 2}), 2);
  // One slow run does not move it.
  EXPECT_EQ(MedianMs({1000, 1100, 60000}), 1100);
}

TEST_F(EstimatorTest, ChainAddsUpMediansOfEarlierRuns) {
  // 0 -> 1 -> 2, nothing started.
  Dag dag = MakeDag({{}, {0}, {1}});
  std::vector<TaskProgress> tasks = {Pending({1000, 3000, 2000}),
                                     Pending({500}), Pending({700, 900})};
  GraphEstimate e = estimator_.Estimate(dag, tasks, /*slots=*/0);
  EXPECT_THAT(e.expected_ms, ElementsAre(2000, 500, 700));
  EXPECT_THAT(e.critical_path, ElementsAre(0, 1, 2));
  EXPECT_EQ(e.critical_path_ms, 3200);
  EXPECT_EQ(e.remaining_ms, 3200);
  EXPECT_EQ(e.now_ms, now());
  EXPECT_EQ(e.eta_ms, now() + 3200);
  EXPECT_EQ(e.tasks_with_history, 3);
}

TEST_F(EstimatorTest, CriticalPathTakesTheLongestBranch) {
  // 0 -> {1, 2} -> 3: branch 2 is the long one.
  Dag dag = MakeDag({{}, {0}, {0}, {1, 2}});
  std::vector<TaskProgress> tasks = {Pending({100}), Pending({200}),
                                     Pending({5000}), Pending({300})};
  GraphEstimate e = estimator_.Estimate(dag, tasks, 0);
  EXPECT_THAT(e.critical_path, ElementsAre(0, 2, 3));
  EXPECT_EQ(e.critical_path_ms, 5400);
  EXPECT_EQ(e.remaining_work_ms, 5600);
}

TEST_F(EstimatorTest, EqualBranchesBreakTiesByLowestIndex) {
  Dag dag = MakeDag({{}, {}, {0, 1}, {}});
  std::vector<TaskProgress> tasks = {Pending({100}), Pending({100}),
                                     Pending({100}), Pending({200})};
  GraphEstimate e = estimator_.Estimate(dag, tasks, 0);
  EXPECT_THAT(e.critical_path, ElementsAre(0, 2));
  EXPECT_EQ(e.critical_path_ms, 200);
}

TEST_F(EstimatorTest, RunningTaskCountsOnlyWhatIsLeft) {
  // 0 (running for 1.5 s of its usual 2 s) -> 1 (1 s).
  Dag dag = MakeDag({{}, {0}});
  std::vector<TaskProgress> tasks = {Running(now() - 1500, {2000}),
                                     Pending({1000})};
  GraphEstimate e = estimator_.Estimate(dag, tasks, 0);
  EXPECT_EQ(e.critical_path_ms, 500 + 1000);
  EXPECT_EQ(e.eta_ms, now() + 1500);
}

TEST_F(EstimatorTest, EtaStaysPutWhileTasksTakeTheirUsualTime) {
  Dag dag = MakeDag({{}, {0}});
  const int64_t start = now();
  std::vector<TaskProgress> tasks = {Running(start, {2000}), Pending({1000})};
  const int64_t eta = estimator_.Estimate(dag, tasks, 0).eta_ms;
  EXPECT_EQ(eta, start + 3000);

  clock_.Advance(absl::Milliseconds(1200));
  EXPECT_EQ(estimator_.Estimate(dag, tasks, 0).eta_ms, eta);

  // Overrunning: the running task is expected to end now, and the ETA
  // slides with the clock.
  clock_.Advance(absl::Milliseconds(1800));
  GraphEstimate late = estimator_.Estimate(dag, tasks, 0);
  EXPECT_EQ(late.critical_path_ms, 1000);
  EXPECT_THAT(late.critical_path, ElementsAre(0, 1));
  EXPECT_EQ(late.eta_ms, now() + 1000);
}

TEST_F(EstimatorTest, FinishedTasksAreOffThePath) {
  // 0 succeeded, 1 failed and 3 skipped with it, 2 still to run.
  Dag dag = MakeDag({{}, {0}, {0}, {1}});
  std::vector<TaskProgress> tasks = {Done(TaskState::kSucceeded, 400),
                                     Done(TaskState::kFailed),
                                     Pending({900}),
                                     Done(TaskState::kSkipped)};
  GraphEstimate e = estimator_.Estimate(dag, tasks, 0);
  EXPECT_THAT(e.critical_path, ElementsAre(2));
  EXPECT_EQ(e.eta_ms, now() + 900);
}

TEST_F(EstimatorTest, NothingLeftMeansNoEta) {
  Dag dag = MakeDag({{}, {0}});
  std::vector<TaskProgress> tasks = {Done(TaskState::kSucceeded, 10),
                                     Done(TaskState::kCancelled)};
  GraphEstimate e = estimator_.Estimate(dag, tasks, 4);
  EXPECT_THAT(e.critical_path, IsEmpty());
  EXPECT_EQ(e.eta_ms, 0);
  EXPECT_EQ(e.remaining_ms, 0);
}

TEST_F(EstimatorTest, SlotsBoundWideGraphs) {
  // Four independent 1 s tasks on 2 slots take 2 s, not 1 s.
  Dag dag = MakeDag({{}, {}, {}, {}});
  std::vector<TaskProgress> tasks(4, Pending({1000}));
  GraphEstimate e = estimator_.Estimate(dag, tasks, /*slots=*/2);
  EXPECT_EQ(e.critical_path_ms, 1000);
  EXPECT_EQ(e.remaining_work_ms, 4000);
  EXPECT_EQ(e.remaining_ms, 2000);
  EXPECT_EQ(e.eta_ms, now() + 2000);
  // Enough slots: the critical path decides.
  EXPECT_EQ(estimator_.Estimate(dag, tasks, 8).remaining_ms, 1000);
}

TEST_F(EstimatorTest, UnknownTasksTakeTheMedianOfWhatIsKnown) {
  // 0 has history, 1 ran in this run, 2 and 3 are new.
  Dag dag = MakeDag({{}, {}, {0}, {2}});
  std::vector<TaskProgress> tasks = {Pending({3000}),
                                     Done(TaskState::kSucceeded, 1000),
                                     Pending(), Pending()};
  GraphEstimate e = estimator_.Estimate(dag, tasks, 0);
  EXPECT_EQ(e.tasks_with_history, 1);
  EXPECT_EQ(e.default_task_ms, 1000);  // median of {3000, 1000}
  EXPECT_THAT(e.expected_ms, ElementsAre(3000, 1000, 1000, 1000));
  EXPECT_EQ(e.critical_path_ms, 5000);
}

TEST_F(EstimatorTest, FixedDefaultWhenNothingIsKnown) {
  Estimator estimator(clock_, {.default_task_duration = absl::Seconds(4)});
  Dag dag = MakeDag({{}, {0}});
  std::vector<TaskProgress> tasks = {Pending(), Pending()};
  GraphEstimate e = estimator.Estimate(dag, tasks, 0);
  EXPECT_EQ(e.default_task_ms, 4000);
  EXPECT_EQ(e.eta_ms, now() + 8000);
  EXPECT_EQ(e.tasks_with_history, 0);
}

TEST_F(EstimatorTest, DependenciesListedAfterTheirDependents) {
  // Task 0 depends on task 2 (files may list tasks in any order).
  Dag dag = MakeDag({{2}, {0}, {}});
  std::vector<TaskProgress> tasks = {Pending({10}), Pending({20}),
                                     Pending({30})};
  GraphEstimate e = estimator_.Estimate(dag, tasks, 0);
  EXPECT_THAT(e.critical_path, ElementsAre(2, 0, 1));
  EXPECT_EQ(e.critical_path_ms, 60);
}

TEST_F(EstimatorTest, LongChainIsLinear) {
  // 10,000 tasks in a chain: no recursion, one pass.
  std::vector<std::vector<int>> deps(10000);
  for (int i = 1; i < 10000; ++i) deps[i] = {i - 1};
  Dag dag = MakeDag(deps);
  std::vector<TaskProgress> tasks(10000, Pending({2}));
  GraphEstimate e = estimator_.Estimate(dag, tasks, 2);
  EXPECT_EQ(e.critical_path.size(), 10000u);
  EXPECT_EQ(e.critical_path_ms, 20000);
}

}  // namespace
}  // namespace vitte::task
