// EventLongPoll on a real Coordinator (temp store, inline commits): a poll
// answers at once when there is something to say, waits for the next
// change otherwise, and polls chained by their cursors miss nothing.
#include "coordinator/event_long_poll.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_fixture.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing_util::ChainGraph;
using testing_util::CoordinatorTest;
using testing_util::Describe;
using testing_util::FakeWatcher;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::Succeeded;
using testing_util::Worker;

// Long enough never to pass in a test that works; a poll that waits it out
// fails the test's timing checks instead of hanging it.
constexpr absl::Duration kLongWait = absl::Seconds(20);


class EventLongPollTest : public CoordinatorTest {
 protected:
  // Waits (bounded) until `n` polls wait.
  void AwaitWaiting(const EventLongPoll& poll, int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (poll.waiting() != n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_EQ(poll.waiting(), n);
  }
  // Reports success of what `w` was given; false if it was given nothing.
  bool RunOne(Worker& w) {
    std::vector<Assignment> got = w.conn->Take();
    if (got.empty()) return false;
    EXPECT_EQ(coord_->Report(w.session, {Succeeded(got[0])}), 0);
    return true;
  }
};

TEST_F(EventLongPollTest, FromZeroAGraphIsACompactedSnapshotAtOnce) {
  GraphId id = Submit(ChainGraph());
  EventLongPoll poll(*coord_);
  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(EventBatch batch, poll.Poll(id, 0, kLongWait));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(batch.compacted);
  EXPECT_FALSE(batch.end);
  EXPECT_GT(batch.cursor, 0u);
  EXPECT_THAT(Describe(batch.events),
              ElementsAre("GRAPH:running", "a:ready", "b:pending", "c:pending"));
  EXPECT_EQ(poll.waiting(), 0);
}

TEST_F(EventLongPollTest, WaitsForTheNextChange) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(ChainGraph());
  EventLongPoll poll(*coord_);
  ASSERT_OK_AND_ASSIGN(EventBatch first, poll.Poll(id, 0, kLongWait));

  absl::StatusOr<EventBatch> second;
  absl::Duration took;
  std::thread poller([&] {
    const absl::Time start = absl::Now();
    second = poll.Poll(id, first.cursor, kLongWait);
    took = absl::Now() - start;
  });
  ASSERT_NO_FATAL_FAILURE(AwaitWaiting(poll, 1));
  ASSERT_TRUE(RunOne(w));  // a succeeds, b starts
  poller.join();
  ASSERT_OK(second.status());
  EXPECT_LT(took, absl::Seconds(10));
  EXPECT_FALSE(second->compacted);
  EXPECT_THAT(Describe(second->events),
              ElementsAre("a:succeeded", "b:ready", "b:running"));
  EXPECT_EQ(second->cursor, second->events.back().sequence);
  EXPECT_EQ(poll.waiting(), 0);
}

TEST_F(EventLongPollTest, AnswersWithoutEventsOnceTheWaitPassed) {
  GraphId id = Submit(ChainGraph());
  EventLongPoll poll(*coord_);
  ASSERT_OK_AND_ASSIGN(EventBatch first, poll.Poll(id, 0, kLongWait));
  ASSERT_OK_AND_ASSIGN(EventBatch idle,
                       poll.Poll(id, first.cursor, absl::Milliseconds(20)));
  EXPECT_THAT(idle.events, IsEmpty());
  EXPECT_EQ(idle.cursor, first.cursor);  // resume from the same place
  EXPECT_FALSE(idle.compacted);
  EXPECT_FALSE(idle.end);
}

TEST_F(EventLongPollTest, PollsChainedByCursorMissNothing) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(ChainGraph());
  auto whole = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Follow(id, 0, whole));
  EventLongPoll poll(*coord_);
  ASSERT_OK_AND_ASSIGN(EventBatch first, poll.Poll(id, 0, absl::ZeroDuration()));
  uint64_t cursor = first.cursor;
  std::vector<TaskEvent> got = first.events;
  // Changes made between polls, as a page's next request is on its way.
  bool ended = false;
  for (int guard = 0; guard < 20 && !ended; ++guard) {
    RunOne(w);
    ASSERT_OK_AND_ASSIGN(EventBatch b, poll.Poll(id, cursor, kLongWait));
    EXPECT_FALSE(b.compacted);
    got.insert(got.end(), b.events.begin(), b.events.end());
    cursor = b.cursor;
    ended = b.end;
  }
  ASSERT_TRUE(ended);
  EXPECT_TRUE(got.back().graph_finished);
  EXPECT_EQ(Describe(got), Describe(whole->events()));
}

TEST_F(EventLongPollTest, AFinishedGraphAnswersAtOnceWithItsEnd) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(ChainGraph());
  while (RunOne(w)) {
  }
  EventLongPoll poll(*coord_);
  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(EventBatch batch, poll.Poll(id, 0, kLongWait));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(batch.end);
  ASSERT_FALSE(batch.events.empty());
  EXPECT_TRUE(batch.events.back().graph_finished);
  // Asking again after the end still ends at once, with the end again.
  ASSERT_OK_AND_ASSIGN(EventBatch again, poll.Poll(id, batch.cursor, kLongWait));
  EXPECT_TRUE(again.end);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(EventLongPollTest, PastTheLimitOfWaitingPollsAnswersAtOnce) {
  GraphId id = Submit(ChainGraph());
  EventLongPoll poll(*coord_, /*max_waiting=*/1);
  ASSERT_OK_AND_ASSIGN(EventBatch first, poll.Poll(id, 0, kLongWait));
  absl::StatusOr<EventBatch> held;
  std::thread poller([&] { held = poll.Poll(id, first.cursor, kLongWait); });
  ASSERT_NO_FATAL_FAILURE(AwaitWaiting(poll, 1));

  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(EventBatch busy, poll.Poll(id, first.cursor, kLongWait));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_THAT(busy.events, IsEmpty());
  EXPECT_EQ(busy.cursor, first.cursor);

  // Shutdown releases the one that waits, and later polls do not wait.
  poll.Shutdown();
  poller.join();
  ASSERT_OK(held.status());
  EXPECT_THAT(held->events, IsEmpty());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_OK_AND_ASSIGN(EventBatch after, poll.Poll(id, first.cursor, kLongWait));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_THAT(after.events, IsEmpty());
  EXPECT_EQ(poll.waiting(), 0);
}

TEST_F(EventLongPollTest, EveryGraphFromZeroWaitsForTheNextSubmit) {
  EventLongPoll poll(*coord_);
  ASSERT_OK_AND_ASSIGN(EventBatch now, poll.Poll(0, 0, absl::ZeroDuration()));
  EXPECT_THAT(now.events, IsEmpty());
  absl::StatusOr<EventBatch> next;
  std::thread poller([&] { next = poll.Poll(0, now.cursor, kLongWait); });
  ASSERT_NO_FATAL_FAILURE(AwaitWaiting(poll, 1));
  GraphId id = Submit(ChainGraph());
  poller.join();
  ASSERT_OK(next.status());
  ASSERT_FALSE(next->events.empty());
  EXPECT_EQ(next->events.front().graph_id, id);
}

TEST_F(EventLongPollTest, ErrorsAreFollows) {
  GraphId id = Submit(ChainGraph());
  EventLongPoll poll(*coord_);
  EXPECT_EQ(poll.Poll(id + 7, 0, kLongWait).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(poll.Poll(id, 1'000'000, kLongWait).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(poll.waiting(), 0);
}

}  // namespace
}  // namespace vitte::task
