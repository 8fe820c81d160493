#include "client/executor.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using State = TaskExecutor::State;

// Bounds every wait in this file: long enough never to expire on a loaded
// machine when the executor works, short enough to fail instead of hanging
// when it does not.
constexpr absl::Duration kWaitLimit = absl::Seconds(10);

// Task functions must return void or absl::Status; anything else is refused
// at compile time rather than silently ignored.
static_assert(std::is_constructible_v<Task, std::string, void (*)()>);
static_assert(std::is_constructible_v<Task, std::string, absl::Status (*)()>);
static_assert(!std::is_constructible_v<Task, std::string, bool (*)()>);
static_assert(!std::is_constructible_v<Task, std::string, int (*)(int)>);
static_assert(
    !std::is_constructible_v<Task, std::string, absl::StatusOr<int> (*)()>);

// Thread-safe list of events, in the order they happened.
class Log {
 public:
  void Add(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  std::vector<std::string> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

// exec.run_all(), failing the whole test binary instead of hanging if it
// does not return, as when a broken executor loses track of a task.
absl::Status RunAll(TaskExecutor& exec) {
  absl::Notification returned;
  std::thread watchdog([&returned] {
    if (!returned.WaitForNotificationWithTimeout(absl::Seconds(60))) {
      std::fputs("run_all() did not return within 60s\n", stderr);
      std::abort();
    }
  });
  absl::Status status = exec.run_all();
  returned.Notify();
  watchdog.join();
  return status;
}

State StateOf(const TaskExecutor& exec, absl::string_view id) {
  absl::StatusOr<State> state = exec.state(id);
  EXPECT_TRUE(state.ok()) << state.status();
  return state.ok() ? *state : State::kPending;
}

TaskExecutor::TaskResult ResultOf(const TaskExecutor& exec,
                                  absl::string_view id) {
  absl::StatusOr<TaskExecutor::TaskResult> result = exec.result(id);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : TaskExecutor::TaskResult{};
}

TEST(TaskExecutorTest, OriginExampleRunsAnalyseThenBuild) {
  Log log;
  TaskExecutor exec(4);
  exec.add(Task("analyse", [&] { log.Add("analyse"); }));
  exec.add(Task::depends_on("build", {"analyse"}, [&] { log.Add("build"); }));

  ASSERT_TRUE(RunAll(exec).ok());

  EXPECT_THAT(log.events(), ElementsAre("analyse", "build"));
  EXPECT_EQ(StateOf(exec, "analyse"), State::kSucceeded);
  EXPECT_EQ(StateOf(exec, "build"), State::kSucceeded);
}

TEST(TaskExecutorTest, DiamondRunsEachTaskAfterItsDeps) {
  Log log;
  auto task = [&](std::string id) {
    return [&log, id] {
      log.Add(id + " start");
      log.Add(id + " end");
    };
  };
  TaskExecutor exec(4);
  // Added in reverse, so that insertion order cannot be what orders them.
  exec.add(Task::depends_on("d", {"b", "c"}, task("d")));
  exec.add(Task::depends_on("c", {"a"}, task("c")));
  exec.add(Task::depends_on("b", {"a"}, task("b")));
  exec.add(Task("a", task("a")));

  ASSERT_TRUE(RunAll(exec).ok());

  std::vector<std::string> events = log.events();
  ASSERT_THAT(events, SizeIs(8));
  auto at = [&](const std::string& event) {
    return std::find(events.begin(), events.end(), event) - events.begin();
  };
  EXPECT_LT(at("a end"), at("b start"));
  EXPECT_LT(at("a end"), at("c start"));
  EXPECT_LT(at("b end"), at("d start"));
  EXPECT_LT(at("c end"), at("d start"));
}

TEST(TaskExecutorTest, RunsReadyTasksInParallel) {
  // Each task waits until all four run at once, which a serial executor (or
  // one with fewer threads) never achieves: its tasks time out and fail.
  absl::Mutex mu;
  int arrived = 0;
  const absl::Time deadline = absl::Now() + kWaitLimit;
  TaskExecutor exec(4);
  for (int i = 0; i < 4; ++i) {
    exec.add(Task(absl::StrCat("t", i), [&]() -> absl::Status {
      absl::MutexLock lock(&mu);
      ++arrived;
      const bool all =
          mu.AwaitWithDeadline(absl::Condition(
                                   +[](int* n) { return *n == 4; }, &arrived),
                               deadline);
      if (!all) {
        return absl::DeadlineExceededError(
            absl::StrCat("only ", arrived, " of 4 tasks ran at once"));
      }
      return absl::OkStatus();
    }));
  }

  absl::Status status = RunAll(exec);

  EXPECT_TRUE(status.ok()) << status;
}

TEST(TaskExecutorTest, NeverRunsMoreThanThreadsAtOnce) {
  static constexpr int kThreads = 3;
  static constexpr int kTasks = 12;
  struct Counters {
    int running = 0;
    int finished = 0;
    int max_running = 0;
  };
  absl::Mutex mu;
  Counters counters;
  const absl::Time deadline = absl::Now() + kWaitLimit;
  TaskExecutor exec(kThreads);
  for (int i = 0; i < kTasks; ++i) {
    exec.add(Task(absl::StrCat("t", i), [&, deadline] {
      absl::MutexLock lock(&mu);
      ++counters.running;
      counters.max_running = std::max(counters.max_running, counters.running);
      // First let the executor fill its slots: every unfinished task runs,
      // or kThreads do. Holds at once in the tail, when fewer remain.
      mu.AwaitWithDeadline(
          absl::Condition(
              +[](Counters* c) {
                return c->running >= std::min(kThreads, kTasks - c->finished);
              },
              &counters),
          deadline);
      // Then give an executor that ignores its limit a moment to start one
      // more. A correct one never does, so this wait always times out.
      mu.AwaitWithTimeout(
          absl::Condition(
              +[](Counters* c) { return c->running > kThreads; }, &counters),
          absl::Milliseconds(20));
      counters.max_running = std::max(counters.max_running, counters.running);
      --counters.running;
      ++counters.finished;
    }));
  }

  ASSERT_TRUE(RunAll(exec).ok());

  absl::MutexLock lock(&mu);
  EXPECT_EQ(counters.max_running, kThreads);
  EXPECT_EQ(counters.finished, kTasks);
}

TEST(TaskExecutorTest, RandomDagsRespectDependencies) {
  constexpr int kGraphs = 50;
  constexpr int kTasks = 200;
  for (int seed = 0; seed < kGraphs; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::mt19937 rng(seed);
    // Task i depends on up to 4 tasks among 0..i-1 (which keeps it acyclic)
    // and the tasks are added in a random order.
    std::vector<std::vector<int>> deps(kTasks);
    for (int i = 1; i < kTasks; ++i) {
      const int count = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int k = 0; k < count; ++k) {
        deps[i].push_back(std::uniform_int_distribution<int>(0, i - 1)(rng));
      }
    }
    std::vector<int> order(kTasks);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);

    std::atomic<int> clock{0};
    std::vector<std::atomic<int>> runs(kTasks);
    std::vector<std::atomic<int>> started(kTasks);
    std::vector<std::atomic<int>> finished(kTasks);
    TaskExecutor exec(1 + seed % 8);
    for (int i : order) {
      std::vector<std::string> dep_ids;
      for (int d : deps[i]) dep_ids.push_back(absl::StrCat("t", d));
      exec.add(
          Task::depends_on(absl::StrCat("t", i), std::move(dep_ids), [&, i] {
            started[i] = clock++;
            ++runs[i];
            finished[i] = clock++;
          }));
    }

    ASSERT_TRUE(RunAll(exec).ok());

    for (int i = 0; i < kTasks; ++i) {
      ASSERT_EQ(runs[i], 1) << "t" << i;
      for (int d : deps[i]) {
        ASSERT_LT(finished[d], started[i])
            << "t" << i << " started before "
            << "its dependency t" << d << " finished";
      }
    }
  }
}

TEST(TaskExecutorTest, FailedTaskSkipsItsDependentsOnly) {
  Log log;
  TaskExecutor exec(2);
  exec.add(Task("analyse", [&] { log.Add("analyse"); }));
  exec.add(Task::depends_on("build", {"analyse"}, [&]() -> absl::Status {
    log.Add("build");
    return absl::InternalError("boom");
  }));
  exec.add(Task::depends_on("test", {"build"}, [&] { log.Add("test"); }));
  exec.add(Task::depends_on("package", {"test", "analyse"},
                            [&] { log.Add("package"); }));
  exec.add(Task("lint", [&] { log.Add("lint"); }));
  exec.add(Task::depends_on("doc", {"analyse"}, [&] { log.Add("doc"); }));

  absl::Status status = RunAll(exec);

  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(status.message(),
            "1 task failed: \"build\" (INTERNAL: boom); 2 skipped: \"test\", "
            "\"package\" (because \"build\" failed)");
  std::vector<std::string> ran = log.events();
  std::sort(ran.begin(), ran.end());
  EXPECT_THAT(ran, ElementsAre("analyse", "build", "doc", "lint"));

  TaskExecutor::TaskResult build = ResultOf(exec, "build");
  EXPECT_EQ(build.state, State::kFailed);
  EXPECT_EQ(build.error, absl::InternalError("boom"));
  for (const char* id : {"test", "package"}) {
    TaskExecutor::TaskResult skipped = ResultOf(exec, id);
    EXPECT_EQ(skipped.state, State::kSkipped) << id;
    EXPECT_EQ(skipped.skipped_because, "build") << id;
    EXPECT_TRUE(skipped.error.ok()) << id;
  }
  for (const char* id : {"analyse", "lint", "doc"}) {
    EXPECT_EQ(StateOf(exec, id), State::kSucceeded) << id;
    EXPECT_EQ(ResultOf(exec, id).skipped_because, "") << id;
  }
}

TEST(TaskExecutorTest, ThrowingTaskFailsLikeAnError) {
  Log log;
  TaskExecutor exec(2);
  exec.add(Task("build", [] { throw std::runtime_error("kaboom"); }));
  exec.add(Task::depends_on("test", {"build"}, [&] { log.Add("test"); }));
  exec.add(Task("lint", [&] { log.Add("lint"); }));

  absl::Status status = RunAll(exec);

  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(status.message(),
            "1 task failed: \"build\" (UNKNOWN: kaboom); 1 skipped: \"test\" "
            "(because \"build\" failed)");
  EXPECT_THAT(log.events(), ElementsAre("lint"));
  EXPECT_EQ(ResultOf(exec, "build").error, absl::UnknownError("kaboom"));
  EXPECT_EQ(ResultOf(exec, "test").skipped_because, "build");
}

TEST(TaskExecutorTest, NonStdExceptionFailsTheTask) {
  TaskExecutor exec(1);
  exec.add(Task("odd", [] { throw 42; }));

  absl::Status status = RunAll(exec);

  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_THAT(status.message(), HasSubstr("\"odd\""));
  TaskExecutor::TaskResult odd = ResultOf(exec, "odd");
  EXPECT_EQ(odd.state, State::kFailed);
  EXPECT_EQ(odd.error.code(), absl::StatusCode::kUnknown);
  EXPECT_THAT(odd.error.message(), HasSubstr("exception"));
}

TEST(TaskExecutorTest, SkipNamesTheNearestFailedAncestorAndEachFailure) {
  TaskExecutor exec(1);
  exec.add(Task("a", [] { return absl::UnavailableError("down"); }));
  exec.add(Task::depends_on("b", {"a"}, [] {}));
  exec.add(Task::depends_on("c", {"b"}, [] {}));
  exec.add(Task("x", [] { return absl::NotFoundError("gone"); }));
  exec.add(Task::depends_on("y", {"x"}, [] {}));

  absl::Status status = RunAll(exec);

  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(status.message(),
            "2 tasks failed: \"a\" (UNAVAILABLE: down), \"x\" (NOT_FOUND: "
            "gone); 3 skipped: \"b\", \"c\" (because \"a\" failed), \"y\" "
            "(because \"x\" failed)");
  // c's path to the failure goes through b, which was skipped, not failed.
  EXPECT_EQ(ResultOf(exec, "c").skipped_because, "a");
  EXPECT_EQ(ResultOf(exec, "y").skipped_because, "x");
}

TEST(TaskExecutorTest, FailureMessageIsBounded) {
  constexpr int kFailed = 30;
  constexpr int kDependents = 100;
  const std::string long_error(1000, 'x');
  TaskExecutor exec(4);
  for (int f = 0; f < kFailed; ++f) {
    const std::string id = absl::StrCat("f", f);
    exec.add(Task(id, [&] { return absl::InternalError(long_error); }));
    for (int d = 0; d < kDependents; ++d) {
      exec.add(Task::depends_on(absl::StrCat(id, "-d", d), {id}, [] {}));
    }
  }

  absl::Status status = RunAll(exec);

  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_THAT(status.message(), HasSubstr("30 tasks failed: "));
  EXPECT_THAT(status.message(), HasSubstr(", and 20 more; 3000 skipped: "));
  EXPECT_THAT(status.message(), HasSubstr(", and 2990 more"));
  EXPECT_LT(status.message().size(), 4000u);
  // The full error is still there for whoever asks.
  EXPECT_EQ(ResultOf(exec, "f0").error, absl::InternalError(long_error));
}

TEST(TaskExecutorTest, CycleIsRefusedWithItsPathAndNothingRuns) {
  std::atomic<int> runs{0};
  TaskExecutor exec(2);
  exec.add(Task("free", [&] { ++runs; }));
  exec.add(Task::depends_on("a", {"c"}, [&] { ++runs; }));
  exec.add(Task::depends_on("b", {"a"}, [&] { ++runs; }));
  exec.add(Task::depends_on("c", {"b"}, [&] { ++runs; }));

  absl::Status status = RunAll(exec);

  EXPECT_EQ(status,
            absl::InvalidArgumentError("dependency cycle: a -> c -> b -> a"));
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(StateOf(exec, "free"), State::kPending);
}

TEST(TaskExecutorTest, UnknownDependencyIsRefusedUntilAdded) {
  std::atomic<int> runs{0};
  TaskExecutor exec(2);
  exec.add(Task::depends_on("link", {"compil"}, [&] { ++runs; }));

  EXPECT_EQ(RunAll(exec),
            absl::InvalidArgumentError(
                "task \"link\" depends on unknown task \"compil\""));
  EXPECT_EQ(runs, 0);

  // Nothing ran, so the graph may be completed and run.
  exec.add(Task("compil", [&] { ++runs; }));
  EXPECT_TRUE(RunAll(exec).ok());
  EXPECT_EQ(runs, 2);
}

TEST(TaskExecutorTest, DuplicateIdIsRefused) {
  std::atomic<int> runs{0};
  TaskExecutor exec(2);
  exec.add(Task("x", [&] { ++runs; }));
  exec.add(Task("x", [&] { ++runs; }));

  absl::Status status = RunAll(exec);

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("duplicate task id \"x\""));
  EXPECT_EQ(runs, 0);
}

TEST(TaskExecutorTest, BadIdIsRefused) {
  TaskExecutor exec(1);
  exec.add(Task("ok", [] {}));
  exec.add(Task("has space", [] {}));

  absl::Status status = RunAll(exec);

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("task #2: "));
  EXPECT_THAT(status.message(), HasSubstr("whitespace"));
}

TEST(TaskExecutorTest, EmptyFunctionIsRefused) {
  TaskExecutor exec(1);
  exec.add(Task("nothing", std::function<void()>()));
  exec.add(Task("null", static_cast<absl::Status (*)()>(nullptr)));

  EXPECT_EQ(RunAll(exec),
            absl::InvalidArgumentError("task \"nothing\" has no function"));
}

TEST(TaskExecutorTest, EmptyExecutorSucceeds) {
  TaskExecutor exec(4);
  EXPECT_TRUE(RunAll(exec).ok());
}

TEST(TaskExecutorTest, PriorityOrdersReadyTasksWithOneThread) {
  Log log;
  auto record = [&](std::string id) { return [&log, id] { log.Add(id); }; };
  TaskExecutor exec(1);
  exec.add(Task("low", record("low")).with_priority(-1));
  exec.add(Task("a", record("a")));
  exec.add(Task("b", record("b")));
  exec.add(Task("high", record("high")).with_priority(5));
  // Becomes ready after "a" and then goes ahead of "b", which waited longer.
  Task after_a = Task::depends_on("after_a", {"a"}, record("after_a"));
  after_a.with_priority(10);
  exec.add(std::move(after_a));

  ASSERT_TRUE(RunAll(exec).ok());

  EXPECT_THAT(log.events(), ElementsAre("high", "a", "after_a", "b", "low"));
}

TEST(TaskExecutorTest, SecondRunAllIsFailedPrecondition) {
  std::atomic<int> runs{0};
  TaskExecutor exec(2);
  exec.add(Task("once", [&] { ++runs; }));
  ASSERT_TRUE(RunAll(exec).ok());
  exec.add(Task("late", [&] { ++runs; }));

  absl::Status status = RunAll(exec);

  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("1 task(s) added after"));
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(exec.state("late").status().code(), absl::StatusCode::kNotFound);
}

TEST(TaskExecutorTest, TaskMayQueryTheExecutorButNotRunItAgain) {
  TaskExecutor exec(2);
  absl::StatusOr<State> seen_state;
  absl::Status nested_run;
  exec.add(Task("self", [&] {
    seen_state = exec.state("self");
    nested_run = exec.run_all();
  }));

  ASSERT_TRUE(RunAll(exec).ok());

  ASSERT_TRUE(seen_state.ok()) << seen_state.status();
  EXPECT_EQ(*seen_state, State::kRunning);
  EXPECT_EQ(nested_run.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(TaskExecutorTest, UnknownIdIsNotFoundAndAddedTaskIsPending) {
  TaskExecutor exec(1);
  exec.add(Task("known", [] {}));

  EXPECT_EQ(StateOf(exec, "known"), State::kPending);
  EXPECT_EQ(exec.result("unknown").status(),
            absl::NotFoundError("no task \"unknown\""));
}

TEST(TaskExecutorTest, AcceptsMoveOnlyAndMutableFunctions) {
  int calls = 0;
  auto owned = std::make_unique<int>(7);
  int seen = 0;
  TaskExecutor exec(1);
  exec.add(Task("move_only", [p = std::move(owned), &seen] { seen = *p; }));
  exec.add(Task("mutable", [&calls, n = 0]() mutable -> absl::Status {
    calls = ++n;
    return absl::OkStatus();
  }));

  ASSERT_TRUE(RunAll(exec).ok());

  EXPECT_EQ(seen, 7);
  EXPECT_EQ(calls, 1);
}

TEST(TaskExecutorTest, ZeroThreadsMeansHardwareConcurrency) {
  std::atomic<int> runs{0};
  TaskExecutor exec(0);
  for (int i = 0; i < 16; ++i) {
    exec.add(Task(absl::StrCat("t", i), [&] { ++runs; }));
  }

  ASSERT_TRUE(RunAll(exec).ok());

  EXPECT_EQ(runs, 16);
}

}  // namespace
}  // namespace vitte::task
