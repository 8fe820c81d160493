#include "coordinator/ready_queue.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;

ReadyEntry Entry(int32_t priority, GraphId graph, int32_t index) {
  ReadyEntry e;
  e.priority = priority;
  e.graph_id = graph;
  e.task_index = index;
  return e;
}

// "priority/graph/index", or "none".
std::string Str(const std::optional<ReadyEntry>& e) {
  if (!e) return "none";
  return absl::StrCat(e->priority, "/", e->graph_id, "/", e->task_index);
}

// Pops everything a worker with `labels` and `serve` may take, in order.
std::vector<std::string> Drain(ReadyQueue& q, const Labels& labels,
                               const Labels& serve = {}) {
  std::vector<std::string> out;
  for (int guard = 0; guard < 1000; ++guard) {
    std::optional<ReadyEntry> e = q.PopFor(labels, serve);
    if (!e) break;
    out.push_back(Str(e));
  }
  return out;
}

TEST(ReadyQueueTest, PopsByPriorityThenGraphThenIndex) {
  ReadyQueue q;
  q.Push({}, Entry(0, 2, 0));
  q.Push({}, Entry(0, 1, 5));
  q.Push({}, Entry(5, 3, 1));
  q.Push({}, Entry(0, 1, 2));
  q.Push({}, Entry(-3, 1, 0));
  q.Push({}, Entry(5, 2, 9));
  EXPECT_THAT(Drain(q, {}), ElementsAre("5/2/9", "5/3/1", "0/1/2", "0/1/5",
                                        "0/2/0", "-3/1/0"));
  EXPECT_EQ(q.size(), 0u);
}

TEST(ReadyQueueTest, SizeCountsEntriesAndIsUnchangedByEmptyPop) {
  ReadyQueue q;
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.PopFor({}).has_value());
  q.Push({}, Entry(0, 1, 0));
  q.Push({{"os", "linux"}}, Entry(0, 1, 1));
  q.Push({{"os", "linux"}}, Entry(0, 1, 2));
  EXPECT_EQ(q.size(), 3u);
  // A worker without labels can take only the unlabelled entry.
  EXPECT_EQ(Str(q.PopFor({})), "0/1/0");
  EXPECT_EQ(q.size(), 2u);
  EXPECT_FALSE(q.PopFor({}).has_value());
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(Str(q.PopFor({{"os", "linux"}})), "0/1/1");
  EXPECT_EQ(q.size(), 1u);
  // The same entry may be pushed again (a retried task).
  q.Push({}, Entry(0, 1, 0));
  EXPECT_EQ(q.size(), 2u);
}

TEST(ReadyQueueTest, LabelledTaskGoesOnlyToMatchingWorker) {
  ReadyQueue q;
  q.Push({{"os", "linux"}}, Entry(0, 1, 0));
  EXPECT_FALSE(q.PopFor({}).has_value());
  EXPECT_FALSE(q.PopFor({{"os", "darwin"}}).has_value());
  EXPECT_FALSE(q.PopFor({{"arch", "amd64"}}).has_value());
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(Str(q.PopFor({{"os", "linux"}, {"arch", "amd64"}})), "0/1/0");
  EXPECT_EQ(q.size(), 0u);
}

TEST(ReadyQueueTest, PopForPicksBestAmongMatchingBuckets) {
  ReadyQueue q;
  q.Push({}, Entry(1, 1, 0));
  q.Push({}, Entry(0, 1, 1));
  q.Push({{"os", "linux"}}, Entry(3, 2, 0));
  q.Push({{"os", "linux"}}, Entry(0, 1, 2));
  q.Push({{"os", "linux"}, {"gpu", "yes"}}, Entry(9, 3, 0));
  q.Push({{"gpu", "yes"}}, Entry(2, 4, 0));
  q.Push({{"os", "darwin"}}, Entry(100, 5, 0));

  // A linux worker without a GPU sees the unlabelled and linux buckets only.
  EXPECT_THAT(Drain(q, {{"os", "linux"}}),
              ElementsAre("3/2/0", "1/1/0", "0/1/1", "0/1/2"));
  // A linux GPU worker gets the rest it matches, best first; darwin stays.
  EXPECT_THAT(Drain(q, {{"os", "linux"}, {"gpu", "yes"}}),
              ElementsAre("9/3/0", "2/4/0"));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_THAT(Drain(q, {{"os", "darwin"}}), ElementsAre("100/5/0"));
}

TEST(ReadyQueueTest, TiesAcrossBucketsGoToEarlierGraphThenIndex) {
  ReadyQueue q;
  q.Push({{"a", "1"}}, Entry(0, 2, 0));
  q.Push({{"b", "1"}}, Entry(0, 1, 3));
  q.Push({}, Entry(0, 1, 4));
  q.Push({{"a", "1"}}, Entry(0, 1, 1));
  EXPECT_THAT(Drain(q, {{"a", "1"}, {"b", "1"}}),
              ElementsAre("0/1/1", "0/1/3", "0/1/4", "0/2/0"));
}

TEST(ReadyQueueTest, BucketsAreKeyedByExactLabelSet) {
  // {os: linux} and {os: linux, arch: amd64} are distinct requirements: an
  // entry of the second must not leak to a worker matching only the first.
  ReadyQueue q;
  q.Push({{"os", "linux"}}, Entry(0, 1, 0));
  q.Push({{"os", "linux"}, {"arch", "amd64"}}, Entry(5, 1, 1));
  EXPECT_EQ(Str(q.PopFor({{"os", "linux"}, {"arch", "arm64"}})), "0/1/0");
  EXPECT_FALSE(q.PopFor({{"os", "linux"}, {"arch", "arm64"}}).has_value());
  // A bucket emptied and refilled keeps requiring its labels.
  EXPECT_EQ(Str(q.PopFor({{"os", "linux"}, {"arch", "amd64"}})), "5/1/1");
  q.Push({{"os", "linux"}, {"arch", "amd64"}}, Entry(1, 1, 2));
  EXPECT_FALSE(q.PopFor({{"os", "linux"}}).has_value());
  EXPECT_EQ(Str(q.PopFor({{"os", "linux"}, {"arch", "amd64"}})), "1/1/2");
}

TEST(ReadyQueueTest, ServeLabelsLimitAWorkerToTasksRequiringThem) {
  ReadyQueue q;
  q.Push({}, Entry(9, 1, 0));
  q.Push({{"os", "linux"}}, Entry(8, 1, 1));
  q.Push({{"pool", "release"}}, Entry(0, 1, 2));
  q.Push({{"pool", "release"}, {"os", "linux"}}, Entry(1, 1, 3));
  q.Push({{"pool", "nightly"}}, Entry(7, 1, 4));
  const Labels signer = {{"pool", "release"}, {"os", "linux"}};
  const Labels serve = {{"pool", "release"}};
  // The unlabelled and linux-only entries come first by priority, and the
  // signer carries their labels; serving only pool=release, it skips them.
  EXPECT_THAT(Drain(q, signer, serve), ElementsAre("1/1/3", "0/1/2"));
  EXPECT_EQ(q.size(), 3u);
  // The same labels without the restriction take the rest they match.
  EXPECT_THAT(Drain(q, signer, {}), ElementsAre("9/1/0", "8/1/1"));
  EXPECT_THAT(Drain(q, {{"pool", "nightly"}}, {}), ElementsAre("7/1/4"));
}

TEST(ReadyQueueTest, EveryServeLabelMustBeRequiredWithItsValue) {
  ReadyQueue q;
  q.Push({{"pool", "release"}}, Entry(0, 1, 0));
  q.Push({{"pool", "Release"}}, Entry(0, 1, 1));
  q.Push({{"pool", "release"}, {"zone", "a"}}, Entry(0, 1, 2));
  const Labels labels = {{"pool", "release"}, {"zone", "a"}};
  // Two serve-labels: only the entry requiring both is served.
  EXPECT_THAT(Drain(q, labels, labels), ElementsAre("0/1/2"));
  // A value differing in case is another value.
  EXPECT_THAT(Drain(q, {{"pool", "release"}}, {{"pool", "release"}}),
              ElementsAre("0/1/0"));
  EXPECT_EQ(q.size(), 1u);
}

}  // namespace
}  // namespace vitte::task
