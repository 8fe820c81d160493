#include "coordinator/graph_run.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/graph_spec.h"
#include "coordinator/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/test_util.h"

namespace vitte::task {

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing_util::MakeGraph;
using testing_util::MakeTask;

// Builds a run of `spec` with `statuses` (all pending when empty).
std::unique_ptr<GraphRun> MakeRun(GraphSpec spec,
                                  std::vector<TaskStatus> statuses = {},
                                  bool cancel_requested = false) {
  absl::StatusOr<Dag> dag = ValidateGraphSpec(spec);
  EXPECT_TRUE(dag.ok()) << dag.status();
  if (statuses.empty()) statuses.resize(spec.tasks.size());
  GraphRecord record;
  record.id = 7;
  record.name = spec.name;
  record.cancel_requested = cancel_requested;
  return std::make_unique<GraphRun>(std::move(record), std::move(spec),
                                    *std::move(dag), std::move(statuses));
}

// Changes are compared as "index:state" strings, which read well when an
// expectation fails.
std::string Change(int32_t index, TaskState state) {
  return absl::StrCat(index, ":", TaskStateName(state));
}
std::vector<std::string> S(const std::vector<TaskChange>& changes) {
  std::vector<std::string> out;
  for (const TaskChange& c : changes) out.push_back(Change(c.index, c.state));
  return out;
}

TaskCounts Recount(const GraphRun& run) {
  TaskCounts c;
  for (size_t i = 0; i < run.size(); ++i) c.Add(run.status(i).state);
  return c;
}

TaskCounts Counts(int64_t pending, int64_t ready, int64_t running,
                  int64_t succeeded, int64_t failed, int64_t skipped,
                  int64_t cancelled) {
  TaskCounts c;
  c.pending = pending;
  c.ready = ready;
  c.running = running;
  c.succeeded = succeeded;
  c.failed = failed;
  c.skipped = skipped;
  c.cancelled = cancelled;
  return c;
}

// Runs task i from ready to succeeded under `attempt`, returning the changes.
std::vector<std::string> RunOk(GraphRun& run, int32_t i, AttemptId attempt) {
  std::vector<TaskChange> changes;
  run.Start(i, attempt, changes);
  run.Succeed(i, changes);
  return S(changes);
}

TEST(GraphRunTest, NewGraphHasOnlyRootsReady) {
  auto run = MakeRun(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"a", "b"}),
            MakeTask("d")}));
  EXPECT_THAT(run->ReadyTasks(), ElementsAre(0, 3));
  EXPECT_EQ(run->status(1).state, TaskState::kPending);
  EXPECT_EQ(run->status(2).state, TaskState::kPending);
  EXPECT_EQ(run->counts(), Counts(2, 2, 0, 0, 0, 0, 0));
  EXPECT_FALSE(run->finished());
}

TEST(GraphRunTest, TaskBecomesReadyOnlyWhenAllDepsSucceeded) {
  // c depends on a and b; b depends on a.
  auto run = MakeRun(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"a", "b"})}));

  std::vector<TaskChange> changes;
  run->Start(0, 11, changes);
  EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kRunning)));
  EXPECT_EQ(run->status(0).current_attempt, 11u);
  EXPECT_EQ(run->status(0).attempts, 1);

  changes.clear();
  run->Succeed(0, changes);
  // b's only dep is done; c still waits for b.
  EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kSucceeded),
                                   Change(1, TaskState::kReady)));
  EXPECT_EQ(run->status(0).current_attempt, 0u);
  EXPECT_EQ(run->status(2).state, TaskState::kPending);
  EXPECT_EQ(run->counts(), Counts(1, 1, 0, 1, 0, 0, 0));

  EXPECT_THAT(RunOk(*run, 1, 12),
              ElementsAre(Change(1, TaskState::kRunning),
                          Change(1, TaskState::kSucceeded),
                          Change(2, TaskState::kReady)));
  EXPECT_THAT(RunOk(*run, 2, 13), ElementsAre(Change(2, TaskState::kRunning),
                                              Change(2, TaskState::kSucceeded)));
  EXPECT_TRUE(run->finished());
  EXPECT_EQ(run->FinalState(), GraphState::kSucceeded);
}

TEST(GraphRunTest, RepeatedDependencyCountsOnce) {
  auto run = MakeRun(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a", "a"})}));
  EXPECT_THAT(RunOk(*run, 0, 1), ElementsAre(Change(0, TaskState::kRunning),
                                             Change(0, TaskState::kSucceeded),
                                             Change(1, TaskState::kReady)));
}

TEST(GraphRunTest, DependencyDeclaredAfterItsDependentStillGates) {
  // Index order is not topological: task 0 depends on task 1.
  auto run = MakeRun(MakeGraph("g", {MakeTask("late", {"early"}),
                                     MakeTask("early")}));
  EXPECT_THAT(run->ReadyTasks(), ElementsAre(1));
  EXPECT_THAT(RunOk(*run, 1, 1), ElementsAre(Change(1, TaskState::kRunning),
                                             Change(1, TaskState::kSucceeded),
                                             Change(0, TaskState::kReady)));
}

TEST(GraphRunTest, FailureSkipsTransitiveDependentsBreadthFirst) {
  // a -> b -> d, a -> c -> e -> f; x -> y is independent.
  auto run = MakeRun(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"a"}),
            MakeTask("d", {"b"}), MakeTask("e", {"c"}), MakeTask("f", {"e"}),
            MakeTask("x"), MakeTask("y", {"x"})}));
  std::vector<TaskChange> changes;
  run->Start(0, 1, changes);
  changes.clear();
  EXPECT_TRUE(run->Fail(0, changes));
  // Breadth-first: the direct dependents b, c before d, e, then f.
  EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kFailed),
                                   Change(1, TaskState::kSkipped),
                                   Change(2, TaskState::kSkipped),
                                   Change(3, TaskState::kSkipped),
                                   Change(4, TaskState::kSkipped),
                                   Change(5, TaskState::kSkipped)));
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(run->status(i).skipped_because, 0) << "task " << i;
  }
  EXPECT_EQ(run->status(0).skipped_because, -1);
  // The independent branch is untouched.
  EXPECT_EQ(run->status(6).state, TaskState::kReady);
  EXPECT_EQ(run->status(7).state, TaskState::kPending);
  EXPECT_EQ(run->status(7).skipped_because, -1);
  EXPECT_EQ(run->counts(), Counts(1, 1, 0, 0, 1, 5, 0));
  EXPECT_FALSE(run->finished());

  RunOk(*run, 6, 2);
  RunOk(*run, 7, 3);
  EXPECT_TRUE(run->finished());
  EXPECT_EQ(run->FinalState(), GraphState::kFailed);
}

TEST(GraphRunTest, DependentOfTwoFailedTasksIsSkippedOnceNamingTheFirst) {
  auto run = MakeRun(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b"), MakeTask("c", {"a", "b"}),
            MakeTask("d", {"c"})}));
  std::vector<TaskChange> changes;
  run->Start(0, 1, changes);
  run->Start(1, 2, changes);
  changes.clear();
  EXPECT_TRUE(run->Fail(0, changes));
  EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kFailed),
                                   Change(2, TaskState::kSkipped),
                                   Change(3, TaskState::kSkipped)));
  changes.clear();
  EXPECT_TRUE(run->Fail(1, changes));
  // c and d are already skipped: nothing is skipped twice.
  EXPECT_THAT(S(changes), ElementsAre(Change(1, TaskState::kFailed)));
  EXPECT_EQ(run->status(2).skipped_because, 0);
  EXPECT_EQ(run->status(3).skipped_because, 0);
  EXPECT_EQ(run->counts(), Counts(0, 0, 0, 0, 2, 2, 0));
  EXPECT_TRUE(run->finished());
  EXPECT_EQ(run->FinalState(), GraphState::kFailed);
}

TEST(GraphRunTest, FailRetriesUntilMaxAttempts) {
  GraphSpec spec = MakeGraph("g", {MakeTask("flaky"), MakeTask("next", {"flaky"})});
  spec.tasks[0].max_attempts = 3;
  auto run = MakeRun(std::move(spec));
  std::vector<TaskChange> changes;

  for (int attempt = 1; attempt <= 2; ++attempt) {
    changes.clear();
    run->Start(0, attempt, changes);
    EXPECT_FALSE(run->Fail(0, changes)) << "attempt " << attempt;
    EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kRunning),
                                     Change(0, TaskState::kReady)));
    EXPECT_EQ(run->status(0).failures, attempt);
    EXPECT_EQ(run->status(0).attempts, attempt);
    EXPECT_EQ(run->status(0).current_attempt, 0u);
    EXPECT_EQ(run->status(1).state, TaskState::kPending);
  }
  changes.clear();
  run->Start(0, 3, changes);
  EXPECT_TRUE(run->Fail(0, changes));
  EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kRunning),
                                   Change(0, TaskState::kFailed),
                                   Change(1, TaskState::kSkipped)));
  EXPECT_EQ(run->status(0).failures, 3);
  EXPECT_EQ(run->status(0).attempts, 3);
  EXPECT_TRUE(run->finished());
}

TEST(GraphRunTest, RetryThenSuccessReleasesDependents) {
  GraphSpec spec = MakeGraph("g", {MakeTask("flaky"), MakeTask("next", {"flaky"})});
  spec.tasks[0].max_attempts = 2;
  auto run = MakeRun(std::move(spec));
  std::vector<TaskChange> changes;
  run->Start(0, 1, changes);
  EXPECT_FALSE(run->Fail(0, changes));
  changes.clear();
  EXPECT_THAT(RunOk(*run, 0, 2), ElementsAre(Change(0, TaskState::kRunning),
                                             Change(0, TaskState::kSucceeded),
                                             Change(1, TaskState::kReady)));
  EXPECT_EQ(run->status(0).failures, 1);
  EXPECT_EQ(run->status(0).attempts, 2);
}

TEST(GraphRunTest, RequeueDoesNotCountAsFailure) {
  // max_attempts = 1: a single failure would be final, but lost attempts
  // are not the task's fault.
  auto run = MakeRun(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"})}));
  std::vector<TaskChange> changes;
  for (AttemptId attempt = 1; attempt <= 3; ++attempt) {
    changes.clear();
    run->Start(0, attempt, changes);
    run->Requeue(0, changes);
    EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kRunning),
                                     Change(0, TaskState::kReady)));
    EXPECT_EQ(run->status(0).failures, 0);
    EXPECT_EQ(run->status(0).current_attempt, 0u);
  }
  EXPECT_EQ(run->status(0).attempts, 3);
  EXPECT_EQ(run->status(1).state, TaskState::kPending);
  EXPECT_EQ(run->counts(), Counts(1, 1, 0, 0, 0, 0, 0));

  changes.clear();
  run->Start(0, 4, changes);
  EXPECT_TRUE(run->Fail(0, changes));
  EXPECT_EQ(run->status(0).failures, 1);
  EXPECT_EQ(run->status(0).state, TaskState::kFailed);
}

TEST(GraphRunTest, LoseDoesNotUseAttemptsButIsBoundedApart) {
  // max_attempts = 1: a failure would be final, a loss is not, until the
  // third one (max_lost = 3).
  auto run = MakeRun(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"b"})}));
  std::vector<TaskChange> changes;
  for (AttemptId attempt = 1; attempt <= 2; ++attempt) {
    changes.clear();
    run->Start(0, attempt, changes);
    EXPECT_FALSE(run->Lose(0, /*max_lost=*/3, changes)) << attempt;
    EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kRunning),
                                        Change(0, TaskState::kReady)));
    EXPECT_EQ(run->status(0).lost, static_cast<int32_t>(attempt));
    EXPECT_EQ(run->status(0).failures, 0);
    EXPECT_EQ(run->status(0).current_attempt, 0u);
  }
  changes.clear();
  run->Start(0, 3, changes);
  EXPECT_TRUE(run->Lose(0, 3, changes));
  EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kRunning),
                                      Change(0, TaskState::kFailed),
                                      Change(1, TaskState::kSkipped),
                                      Change(2, TaskState::kSkipped)));
  EXPECT_EQ(run->status(0).lost, 3);
  EXPECT_EQ(run->status(0).failures, 0);
  EXPECT_EQ(run->status(0).attempts, 3);
  EXPECT_EQ(run->status(2).skipped_because, 0);
  EXPECT_EQ(run->counts(), Counts(0, 0, 0, 0, 1, 2, 0));
  EXPECT_TRUE(run->finished());
  EXPECT_EQ(run->FinalState(), GraphState::kFailed);
}

TEST(GraphRunTest, FailWithAttemptsLeftIsReadyNotBeforeTheRetryTime) {
  GraphSpec spec = MakeGraph("g", {MakeTask("a")});
  spec.tasks[0].max_attempts = 2;
  auto run = MakeRun(std::move(spec));
  std::vector<TaskChange> changes;
  run->Start(0, 1, changes);
  EXPECT_FALSE(run->Fail(0, changes, /*retry_at_ms=*/5000));
  EXPECT_EQ(run->status(0).state, TaskState::kReady);
  EXPECT_EQ(run->status(0).not_before_ms, 5000);
}

TEST(GraphRunTest, CancelRunningTaskReturnsAttemptAndSkipsDependents) {
  auto run = MakeRun(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"b"}),
            MakeTask("other")}));
  std::vector<TaskChange> changes;
  run->Start(0, 42, changes);
  changes.clear();
  EXPECT_EQ(run->Cancel(0, changes), 42u);
  EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kCancelled),
                                   Change(1, TaskState::kSkipped),
                                   Change(2, TaskState::kSkipped)));
  EXPECT_EQ(run->status(0).current_attempt, 0u);
  EXPECT_EQ(run->status(1).skipped_because, 0);
  EXPECT_EQ(run->status(2).skipped_because, 0);
  EXPECT_EQ(run->status(3).state, TaskState::kReady);
  EXPECT_EQ(run->counts(), Counts(0, 1, 0, 0, 0, 2, 1));

  // Cancelling a finished task changes nothing.
  changes.clear();
  EXPECT_EQ(run->Cancel(0, changes), 0u);
  EXPECT_EQ(run->Cancel(1, changes), 0u);
  EXPECT_THAT(S(changes), IsEmpty());
}

TEST(GraphRunTest, CancelReadyOrPendingTaskReturnsNoAttempt) {
  auto run = MakeRun(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"})}));
  std::vector<TaskChange> changes;
  EXPECT_EQ(run->Cancel(1, changes), 0u);  // pending
  EXPECT_THAT(S(changes), ElementsAre(Change(1, TaskState::kCancelled)));
  changes.clear();
  EXPECT_EQ(run->Cancel(0, changes), 0u);  // ready
  EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kCancelled)));
  EXPECT_TRUE(run->finished());
  EXPECT_EQ(run->counts(), Counts(0, 0, 0, 0, 0, 0, 2));
}

TEST(GraphRunTest, FinalStateCancelledWhenCancelRequested) {
  auto run = MakeRun(MakeGraph("g", {MakeTask("a"), MakeTask("b")}), {},
                     /*cancel_requested=*/true);
  std::vector<TaskChange> changes;
  RunOk(*run, 0, 1);
  run->Cancel(1, changes);
  ASSERT_TRUE(run->finished());
  EXPECT_EQ(run->FinalState(), GraphState::kCancelled);
}

TEST(GraphRunTest, FinalStateSucceededEvenIfCancelRequestedTooLate) {
  // Everything had succeeded: the cancel came too late to matter.
  auto run = MakeRun(MakeGraph("g", {MakeTask("a")}), {},
                     /*cancel_requested=*/true);
  RunOk(*run, 0, 1);
  ASSERT_TRUE(run->finished());
  EXPECT_EQ(run->FinalState(), GraphState::kSucceeded);
}

TEST(GraphRunTest, RestoresPersistedStatuses) {
  // a succeeded; b (after a) pending -> ready; c (after a) was running and
  // stays so; d (after c) stays pending; e failed and f skipped because of
  // it; g (after a and c) stays pending.
  GraphSpec spec = MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"a"}),
            MakeTask("d", {"c"}), MakeTask("e"), MakeTask("f", {"e"}),
            MakeTask("g", {"a", "c"})});
  std::vector<TaskStatus> statuses(spec.tasks.size());
  statuses[0].state = TaskState::kSucceeded;
  statuses[0].attempts = 1;
  statuses[2].state = TaskState::kRunning;
  statuses[2].attempts = 2;
  statuses[2].current_attempt = 99;
  statuses[4].state = TaskState::kFailed;
  statuses[4].failures = 1;
  statuses[5].state = TaskState::kSkipped;
  statuses[5].skipped_because = 4;
  auto run = MakeRun(std::move(spec), statuses);

  EXPECT_THAT(run->ReadyTasks(), ElementsAre(1));
  EXPECT_EQ(run->status(0).state, TaskState::kSucceeded);
  EXPECT_EQ(run->status(2).state, TaskState::kRunning);
  EXPECT_EQ(run->status(2).current_attempt, 99u);
  EXPECT_EQ(run->status(2).attempts, 2);
  EXPECT_EQ(run->status(3).state, TaskState::kPending);
  EXPECT_EQ(run->status(5).skipped_because, 4);
  EXPECT_EQ(run->status(6).state, TaskState::kPending);
  EXPECT_EQ(run->counts(), Counts(2, 1, 1, 1, 1, 1, 0));

  // The restored counts of unfinished deps are right: c's success releases
  // d and g (whose other dep, a, succeeded before the restart).
  std::vector<TaskChange> changes;
  run->Succeed(2, changes);
  EXPECT_THAT(S(changes), ElementsAre(Change(2, TaskState::kSucceeded),
                                   Change(3, TaskState::kReady),
                                   Change(6, TaskState::kReady)));
}

TEST(GraphRunTest, RestoredLostAttemptRequeues) {
  std::vector<TaskStatus> statuses(1);
  statuses[0].state = TaskState::kRunning;
  statuses[0].attempts = 1;
  statuses[0].current_attempt = 5;
  auto run = MakeRun(MakeGraph("g", {MakeTask("a")}), statuses);
  std::vector<TaskChange> changes;
  run->Requeue(0, changes);
  EXPECT_THAT(S(changes), ElementsAre(Change(0, TaskState::kReady)));
  EXPECT_EQ(run->status(0).current_attempt, 0u);
  EXPECT_EQ(run->status(0).failures, 0);
}

// Random DAGs driven by random valid operations: after every operation the
// counts match a recount, no task runs or succeeds before all its deps
// succeeded, every skipped task names a failed or cancelled ancestor, and
// each reported change matches the task's new state.
TEST(GraphRunTest, RandomSequencesKeepInvariants) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 50; ++round) {
    const int n = 1 + static_cast<int>(rng() % 40);
    std::vector<TaskSpec> tasks;
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> deps;
      if (i > 0) {
        for (int k = static_cast<int>(rng() % 4); k > 0; --k) {
          deps.push_back(absl::StrCat("t", rng() % i));
        }
      }
      TaskSpec t = MakeTask(absl::StrCat("t", i), deps);
      t.max_attempts = 1 + static_cast<int32_t>(rng() % 3);
      tasks.push_back(std::move(t));
    }
    GraphSpec spec = MakeGraph("random", tasks);
    absl::StatusOr<Dag> dag_or = ValidateGraphSpec(spec);
    ASSERT_TRUE(dag_or.ok()) << dag_or.status();
    const Dag dag = *dag_or;
    auto run = MakeRun(spec);

    AttemptId next_attempt = 1;
    int steps = 0;
    for (; steps < 2000 && !run->finished(); ++steps) {
      const int32_t i = static_cast<int32_t>(rng() % n);
      const TaskState before = run->status(i).state;
      std::vector<TaskChange> changes;
      const int op = static_cast<int>(rng() % 10);
      if (op == 0) {
        AttemptId expected = run->status(i).current_attempt;
        EXPECT_EQ(run->Cancel(i, changes),
                  before == TaskState::kRunning ? expected : 0u);
      } else if (before == TaskState::kReady) {
        run->Start(i, next_attempt++, changes);
      } else if (before == TaskState::kRunning) {
        if (op < 6) {
          run->Succeed(i, changes);
        } else if (op < 8) {
          run->Fail(i, changes);
        } else if (op < 9) {
          run->Lose(i, /*max_lost=*/2, changes);
        } else {
          run->Requeue(i, changes);
        }
      }
      ASSERT_EQ(run->counts(), Recount(*run)) << "round " << round;
      ASSERT_EQ(run->counts().total(), n);
      // The last change of each task is its current state.
      std::map<int32_t, TaskState> last;
      for (const TaskChange& c : changes) last[c.index] = c.state;
      for (const auto& [index, state] : last) {
        ASSERT_EQ(run->status(index).state, state) << "task " << index;
      }
      for (int t = 0; t < n; ++t) {
        const TaskStatus& s = run->status(t);
        const bool active = s.state == TaskState::kReady ||
                            s.state == TaskState::kRunning ||
                            s.state == TaskState::kSucceeded;
        if (active) {
          for (int32_t d : dag.deps(t)) {
            ASSERT_EQ(run->status(d).state, TaskState::kSucceeded)
                << "round " << round << ": task " << t << " is "
                << TaskStateName(s.state) << " before dep " << d;
          }
        }
        if (s.state == TaskState::kPending) {
          bool waiting = false;
          for (int32_t d : dag.deps(t)) {
            waiting |= run->status(d).state != TaskState::kSucceeded;
          }
          ASSERT_TRUE(waiting) << "task " << t << " pending with deps done";
        }
        if (s.state == TaskState::kSkipped) {
          ASSERT_GE(s.skipped_because, 0);
          TaskState cause = run->status(s.skipped_because).state;
          ASSERT_TRUE(cause == TaskState::kFailed ||
                      cause == TaskState::kCancelled)
              << TaskStateName(cause);
        }
        ASSERT_EQ(s.current_attempt != 0, s.state == TaskState::kRunning);
      }
    }
    // Drive what is left to the end so FinalState is checked every round.
    for (int guard = 0; guard < 10 * n && !run->finished(); ++guard) {
      for (int t = 0; t < n; ++t) {
        std::vector<TaskChange> changes;
        if (run->status(t).state == TaskState::kReady) {
          run->Start(t, next_attempt++, changes);
        }
        if (run->status(t).state == TaskState::kRunning) {
          run->Succeed(t, changes);
        }
      }
    }
    ASSERT_TRUE(run->finished()) << "round " << round;
    const TaskCounts& c = run->counts();
    EXPECT_EQ(run->FinalState(), c.succeeded == n ? GraphState::kSucceeded
                                                  : GraphState::kFailed);
  }
}

}  // namespace
}  // namespace vitte::task
