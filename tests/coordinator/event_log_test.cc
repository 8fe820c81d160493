#include "coordinator/event_log.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

TaskEvent Event(uint64_t sequence, GraphId graph) {
  TaskEvent e;
  e.sequence = sequence;
  e.graph_id = graph;
  return e;
}

std::vector<uint64_t> Sequences(const std::vector<TaskEvent>& events) {
  std::vector<uint64_t> out;
  for (const TaskEvent& e : events) out.push_back(e.sequence);
  return out;
}

TEST(EventLogTest, StartsAtTheHeadOfAnEarlierRun) {
  EventLog log(10, 41);
  EXPECT_EQ(log.head(), 41u);
  EXPECT_TRUE(log.Covers(41));   // nothing after 41 yet: nothing missing
  EXPECT_FALSE(log.Covers(40));  // event 41 was made by an earlier run
  EXPECT_FALSE(log.Covers(42));  // not made yet
  log.Append(Event(42, 1));
  EXPECT_TRUE(log.Covers(41));
  EXPECT_THAT(Sequences(log.Since(41, 0)), ::testing::ElementsAre(42u));
}

TEST(EventLogTest, DropsTheOldestAndSaysSo) {
  EventLog log(3, 0);
  for (uint64_t s = 1; s <= 5; ++s) log.Append(Event(s, s % 2 ? 1 : 2));
  // Holds 3, 4, 5.
  EXPECT_FALSE(log.Covers(1));
  EXPECT_TRUE(log.Covers(2));
  EXPECT_THAT(Sequences(log.Since(2, 0)), ::testing::ElementsAre(3u, 4u, 5u));
  EXPECT_THAT(Sequences(log.Since(3, 1)), ::testing::ElementsAre(5u));
  EXPECT_THAT(Sequences(log.Since(2, 2)), ::testing::ElementsAre(4u));
  EXPECT_TRUE(log.Since(5, 0).empty());
}

}  // namespace
}  // namespace vitte::task
