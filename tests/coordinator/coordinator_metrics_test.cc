// The coordinator's metrics: what its counters and histograms record as a
// graph runs and a worker is lost, and the gauges a scrape computes.
#include "coordinator/coordinator_metrics.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "coordinator/coordinator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/coordinator/test_util.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using testing_util::CoordinatorTest;
using testing_util::Failed;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::Succeeded;
using testing_util::TaskIds;

// Count of observations <= `bound` (which must be one of the bounds).
uint64_t CountUpTo(const Histogram& h, double bound) {
  const std::vector<double>& bounds = h.bounds();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (bounds[i] == bound) return h.CumulativeCounts()[i];
  }
  ADD_FAILURE() << "no bucket " << bound;
  return 0;
}

using CoordinatorMetricsTest = CoordinatorTest;

TEST_F(CoordinatorMetricsTest, CountsARunAndALostWorker) {
  const CoordinatorMetrics& m = coord_->metrics();
  const uint64_t commits_at_start = m.commit_seconds.Count();

  // Tasks ready at submit wait 250 ms for a worker: their dispatch latency.
  GraphId id = Submit(
      MakeGraph("g", {MakeTask("a"), MakeTask("b"), MakeTask("c", {"a"})}));
  // Inline commits (no background_commit): the submit is one transaction,
  // with a row per task and one for the graph.
  EXPECT_EQ(m.commit_seconds.Count(), commits_at_start + 1);
  EXPECT_GE(m.commit_rows.Sum(), 4);
  clock_.Advance(absl::Milliseconds(250));
  testing_util::Worker w1 = Connect("w1", 2);
  std::vector<Assignment> first = w1.conn->Take();
  ASSERT_THAT(TaskIds(first), ElementsAre("a", "b"));
  EXPECT_EQ(m.attempts_started.Value(), 2u);
  EXPECT_EQ(m.dispatch_latency.Count(), 2u);
  EXPECT_EQ(CountUpTo(m.dispatch_latency, 0.1), 0u);
  EXPECT_EQ(CountUpTo(m.dispatch_latency, 0.25), 2u);

  // "a" runs 2 s; "c", ready on its success, goes at once to the free slot.
  clock_.Advance(absl::Seconds(2));
  ASSERT_EQ(coord_->Report(w1.session, {Succeeded(first[0])}), 0);
  std::vector<Assignment> second = w1.conn->Take();
  ASSERT_THAT(TaskIds(second), ElementsAre("c"));
  EXPECT_EQ(m.attempts_started.Value(), 3u);
  EXPECT_EQ(m.dispatch_latency.Count(), 3u);
  EXPECT_EQ(CountUpTo(m.dispatch_latency, 0.0001), 1u);  // "c": no wait
  // (The families are reachable through the const view: members are
  // references into the registry.)
  Histogram& succeeded = m.task_duration.WithLabels({"succeeded"});
  EXPECT_EQ(succeeded.Count(), 1u);
  EXPECT_DOUBLE_EQ(succeeded.Sum(), 2.0);
  EXPECT_EQ(m.tasks_finished.WithLabels({"succeeded"}).Value(), 1u);

  // w1 falls silent past its lease: "b" and "c" are lost and ready again.
  AdvanceAndTick(options_.lease_timeout + absl::Milliseconds(1));
  EXPECT_EQ(m.attempts_lost.Value(), 2u);
  EXPECT_EQ(m.task_duration.WithLabels({"lost"}).Count(), 2u);
  CoordinatorStats stats = coord_->Stats();
  EXPECT_EQ(stats.tasks.ready, 2);
  EXPECT_EQ(stats.tasks.succeeded, 1);
  EXPECT_EQ(stats.tasks.running, 0);
  EXPECT_EQ(stats.attempts_running, 0);
  EXPECT_EQ(stats.workers_connected, 0);
  EXPECT_EQ(stats.graphs_running, 1);

  // Its late result is fenced.
  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(second[0])}), 1);
  EXPECT_EQ(m.results_fenced.Value(), 1u);

  // The scrape renders the gauges from Stats() and the counters as they are.
  const std::string text = coord_->metrics_registry().Render();
  EXPECT_THAT(text, HasSubstr("\nvitte_tasks{state=\"ready\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("\nvitte_graphs_running 1\n"));
  EXPECT_THAT(text, HasSubstr("\nvitte_attempts_lost_total 2\n"));
  EXPECT_THAT(text, HasSubstr("\nvitte_attempts_started_total 3\n"));
  EXPECT_THAT(
      text, HasSubstr("\nvitte_tasks_finished_total{state=\"succeeded\"} 1\n"));

  // Another worker finishes the graph.
  testing_util::Worker w2 = Connect("w2", 2);
  EXPECT_EQ(m.attempts_started.Value(), 5u);
  stats = coord_->Stats();
  EXPECT_EQ(stats.workers_connected, 1);
  EXPECT_EQ(stats.slots, 2);
  EXPECT_EQ(stats.slots_busy, 2);
  EXPECT_EQ(stats.tasks.running, 2);
  RunAll(w2);
  EXPECT_EQ(View(id).record.state, GraphState::kSucceeded);
  EXPECT_EQ(m.tasks_finished.WithLabels({"succeeded"}).Value(), 3u);
  EXPECT_EQ(succeeded.Count(), 3u);
  EXPECT_EQ(coord_->Stats().graphs_running, 0);
  EXPECT_GT(m.commit_seconds.Count(), commits_at_start + 4);
  EXPECT_EQ(m.commit_seconds.Count(), m.commit_rows.Count());
}

TEST_F(CoordinatorMetricsTest, CountsRetriesAndFinalStates) {
  const CoordinatorMetrics& m = coord_->metrics();
  TaskSpec flaky = MakeTask("flaky");
  flaky.max_attempts = 2;
  GraphId id = Submit(MakeGraph("g", {flaky, MakeTask("after", {"flaky"})}));
  testing_util::Worker w = Connect("w", 1);

  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(got, SizeIs(1));
  ASSERT_EQ(coord_->Report(w.session, {Failed(got[0])}), 0);
  EXPECT_EQ(m.task_retries.Value(), 1u);  // one attempt left
  got = w.conn->Take();
  ASSERT_THAT(got, SizeIs(1));
  ASSERT_EQ(coord_->Report(w.session, {Failed(got[0])}), 0);
  EXPECT_EQ(m.task_retries.Value(), 1u);  // none left: failed for good

  EXPECT_EQ(View(id).record.state, GraphState::kFailed);
  CounterFamily& family = m.tasks_finished;
  EXPECT_EQ(family.WithLabels({"failed"}).Value(), 1u);
  EXPECT_EQ(family.WithLabels({"skipped"}).Value(), 1u);
  EXPECT_EQ(family.WithLabels({"succeeded"}).Value(), 0u);
  EXPECT_EQ(m.task_duration.WithLabels({"failed"}).Count(), 2u);
}

// The registry outlives the coordinators (TearDown resets coord_ before
// the fixture's members go).
class SharedRegistryTest : public CoordinatorTest {
 protected:
  MetricsRegistry registry_;
};

// A coordinator given a registry records into it, and one recreated on the
// same registry keeps counting where the first one stopped.
TEST_F(SharedRegistryTest, CoordinatorsRecreatedOnARegistryKeepCounting) {
  CoordinatorOptions options = options_;
  options.metrics = &registry_;
  StartWith(options);
  Submit(MakeGraph("g", {MakeTask("a")}));
  testing_util::Worker w = Connect("w", 1);
  RunAll(w);
  StartWith(options);
  EXPECT_EQ(&coord_->metrics_registry(), &registry_);
  Submit(MakeGraph("g2", {MakeTask("a")}));
  w = Connect("w", 1);
  RunAll(w);
  EXPECT_THAT(
      registry_.Render(),
      HasSubstr("\nvitte_tasks_finished_total{state=\"succeeded\"} 2\n"));
}

}  // namespace
}  // namespace vitte::task
