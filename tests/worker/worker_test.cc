#include "worker/worker.h"

#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/fake_runner.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

WorkAssignment Work(uint64_t id) {
  WorkAssignment a;
  a.attempt_id = id;
  a.task_id = absl::StrCat("t", id);
  a.process.argv = {"true", absl::StrCat(id)};
  return a;
}

std::vector<uint64_t> Ids(const std::vector<WorkResult>& results) {
  std::vector<uint64_t> ids;
  for (const auto& r : results) ids.push_back(r.attempt_id);
  return ids;
}

TEST(WorkerTest, RunsAtMostSlotsAndStartsQueuedWhenOneFinishes) {
  FakeRunner runner;
  Worker worker(runner, 2);
  worker.Assign({Work(1), Work(2), Work(3)});
  EXPECT_THAT(runner.started(), ElementsAre(1, 2));
  EXPECT_EQ(worker.running(), 2);
  EXPECT_EQ(worker.queued(), 1);
  runner.Finish(1, 0);
  EXPECT_THAT(runner.started(), ElementsAre(1, 2, 3));
  EXPECT_EQ(runner.spec(3).argv, (std::vector<std::string>{"true", "3"}));
  runner.Finish(2, 1);
  runner.Finish(3, 0);
  std::vector<WorkResult> results = worker.TakeResults(absl::Now());
  EXPECT_THAT(Ids(results), ElementsAre(1, 2, 3));
  EXPECT_TRUE(results[0].result.success());
  EXPECT_FALSE(results[1].result.success());
  EXPECT_EQ(results[1].result.exit_code, 1);
  EXPECT_EQ(worker.running(), 0);
}

TEST(WorkerTest, MetricsCountStartsOutcomesAndBusySlots) {
  MetricsRegistry metrics;
  FakeRunner runner;
  Worker worker(runner, 2, {}, &metrics);
  worker.Assign({Work(1), Work(2), Work(3)});
  std::string text = metrics.Render();
  EXPECT_THAT(text, ::testing::HasSubstr("\nvitte_worker_slots 2\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("\nvitte_worker_slots_busy 2\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("\nvitte_worker_queued 1\n"));
  runner.Finish(1, 0);
  runner.Finish(2, 3);
  worker.Cancel({3});
  text = metrics.Render();
  EXPECT_THAT(text,
              ::testing::HasSubstr("\nvitte_worker_tasks_started_total 3\n"));
  for (const char* line :
       {"{outcome=\"succeeded\"} 1\n", "{outcome=\"failed\"} 1\n",
        "{outcome=\"cancelled\"} 1\n", "{outcome=\"timed_out\"} 0\n"}) {
    EXPECT_THAT(text, ::testing::HasSubstr(absl::StrCat(
                          "\nvitte_worker_tasks_finished_total", line)));
  }
  EXPECT_THAT(text, ::testing::HasSubstr("\nvitte_worker_slots_busy 0\n"));
}

TEST(WorkerTest, DuplicateAssignmentIsIgnored) {
  FakeRunner runner;
  Worker worker(runner, 1);
  worker.Assign({Work(1), Work(2)});
  worker.Assign({Work(1), Work(2)});
  EXPECT_THAT(runner.started(), ElementsAre(1));
  EXPECT_EQ(worker.queued(), 1);
  runner.Finish(1, 0);
  runner.Finish(2, 0);
  EXPECT_THAT(runner.started(), ElementsAre(1, 2));
}

TEST(WorkerTest, CancelledAttemptsReportNothing) {
  FakeRunner runner;
  Worker worker(runner, 1);
  worker.Assign({Work(1), Work(2), Work(3)});
  worker.Cancel({1, 3});  // 1 runs, 3 is queued
  EXPECT_THAT(runner.cancelled(), ElementsAre(1));
  EXPECT_THAT(runner.started(), ElementsAre(1, 2));
  runner.Finish(2, 0);
  EXPECT_THAT(Ids(worker.TakeResults(absl::Now())), ElementsAre(2));
  EXPECT_EQ(worker.queued(), 0);
}

TEST(WorkerTest, TakeResultsWaitsUntilDeadlineOrWakeUp) {
  FakeRunner runner;
  Worker worker(runner, 1);
  EXPECT_THAT(worker.TakeResults(absl::Now() + absl::Milliseconds(20)),
              IsEmpty());
  worker.WakeUp();
  // Returns at once even with a far deadline.
  EXPECT_THAT(worker.TakeResults(absl::Now() + absl::Hours(1)), IsEmpty());
}

// While tasks wait in the queue, a result waits (up to the window) for
// others to share its message; once the queue runs dry it leaves at once.
TEST(WorkerTest, ResultsWaitForCompanyOnlyWhileTasksAreQueued) {
  FakeRunner runner;
  Worker worker(runner, 1);
  worker.Assign({Work(1), Work(2), Work(3)});
  runner.Finish(1, 0);  // 2 starts, 3 still queued
  // Whether this comes before TakeResults waits or while it waits, both
  // results must leave together.
  std::thread finisher([&] { runner.Finish(2, 0); });  // 3 starts
  const absl::Time far = absl::Now() + absl::Seconds(60);
  std::vector<WorkResult> results = worker.TakeResults(far, absl::Seconds(30));
  finisher.join();
  EXPECT_THAT(Ids(results), ElementsAre(1, 2));

  // Nothing queued any more: the next result leaves alone, at once.
  runner.Finish(3, 0);
  const absl::Time before = absl::Now();
  results = worker.TakeResults(far, absl::Seconds(30));
  EXPECT_THAT(Ids(results), ElementsAre(3));
  EXPECT_LT(absl::Now() - before, absl::Seconds(10));

  // And a window that ends first: what is there leaves then.
  worker.Assign({Work(4), Work(5)});
  runner.Finish(4, 0);
  results = worker.TakeResults(far, absl::Milliseconds(20));
  EXPECT_THAT(Ids(results), ElementsAre(4));
  runner.Finish(5, 0);
}

TEST(WorkerTest, ReturnedResultsComeBackFirst) {
  FakeRunner runner;
  Worker worker(runner, 2);
  worker.Assign({Work(1), Work(2)});
  runner.Finish(1, 0);
  std::vector<WorkResult> taken = worker.TakeResults(absl::Now());
  runner.Finish(2, 0);
  worker.ReturnResults(std::move(taken));
  EXPECT_THAT(Ids(worker.TakeResults(absl::Now())), ElementsAre(1, 2));
}

TEST(WorkerTest, DestructorCancelsWhatRuns) {
  FakeRunner runner;
  {
    Worker worker(runner, 2);
    worker.Assign({Work(1), Work(2), Work(3)});
  }
  EXPECT_THAT(runner.cancelled(), UnorderedElementsAre(1, 2));
  EXPECT_EQ(runner.running(), 0);
}

TEST(WorkerTest, RefusesWithoutRunningTasksLackingAServeLabel) {
  MetricsRegistry metrics;
  FakeRunner runner;
  Worker worker(runner, 4, {}, &metrics, {{"pool", "release"}});
  WorkAssignment unlabelled = Work(1);
  WorkAssignment other_pool = Work(2);
  other_pool.labels = {{"os", "linux"}, {"pool", "nightly"}};
  WorkAssignment release = Work(3);
  release.labels = {{"os", "linux"}, {"pool", "release"}};
  worker.Assign({unlabelled, other_pool, release});
  // Only the served task reaches the runner.
  EXPECT_THAT(runner.started(), ElementsAre(3));
  std::vector<WorkResult> refused = worker.TakeResults(absl::Now());
  ASSERT_THAT(Ids(refused), ElementsAre(1, 2));
  EXPECT_FALSE(refused[0].result.started);
  EXPECT_FALSE(refused[0].result.success());
  EXPECT_EQ(refused[0].result.error,
            "refused by the worker: it serves only tasks labelled "
            "pool=release (--serve-label), and task \"t1\" has no labels");
  EXPECT_EQ(refused[1].result.error,
            "refused by the worker: it serves only tasks labelled "
            "pool=release (--serve-label), and task \"t2\" has labels "
            "os=linux,pool=nightly");
  // The coordinator resending a refused attempt gets it refused again, and
  // never run.
  worker.Assign({unlabelled});
  EXPECT_THAT(Ids(worker.TakeResults(absl::Now())), ElementsAre(1));
  EXPECT_THAT(runner.started(), ElementsAre(3));
  runner.Finish(3, 0);
  std::vector<WorkResult> ran = worker.TakeResults(absl::Now());
  ASSERT_THAT(Ids(ran), ElementsAre(3));
  EXPECT_TRUE(ran[0].result.success());
  EXPECT_NE(metrics.Render().find(
                "vitte_worker_tasks_finished_total{outcome=\"not_started\"} 3"),
            std::string::npos)
      << metrics.Render();
}

TEST(WorkerTest, WithoutServeLabelsRunsEverything) {
  FakeRunner runner;
  Worker worker(runner, 2);
  WorkAssignment labelled = Work(2);
  labelled.labels = {{"pool", "release"}};
  worker.Assign({Work(1), labelled});
  EXPECT_THAT(runner.started(), ElementsAre(1, 2));
}

}  // namespace
}  // namespace vitte::task
