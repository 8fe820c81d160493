// Following events: resuming from a sequence number misses nothing and
// repeats nothing, in memory and across a restart, for one graph and for
// every graph.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_fixture.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing_util::CoordinatorTest;
using testing_util::Describe;
using testing_util::ExpectInSequence;
using testing_util::ChainGraph;
using testing_util::FakeWatcher;
using testing_util::IndependentTasks;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::Succeeded;
using testing_util::Worker;


// The state each task reached in `events`, in task order ("a:succeeded").
std::vector<std::string> FinalStates(const std::vector<TaskEvent>& events) {
  std::map<std::string, std::string> last;
  for (const TaskEvent& e : events) {
    if (e.task_index >= 0) last[e.task_id] = TaskStateName(e.task_state);
  }
  std::vector<std::string> out;
  for (const auto& [task, state] : last) out.push_back(task + ":" + state);
  return out;
}

uint64_t LastCursor(const FakeWatcher& w) { return w.batch_info().back().cursor; }


TEST_F(CoordinatorTest, ResumeFromACursorGetsExactlyTheMissedChanges) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(ChainGraph());
  auto whole = std::make_shared<FakeWatcher>();  // never disconnects
  ASSERT_OK(coord_->Watch(id, whole));
  auto first = std::make_shared<FakeWatcher>();
  ASSERT_OK_AND_ASSIGN(uint64_t watch, coord_->Watch(id, first));

  std::vector<Assignment> got = w.conn->Take();
  coord_->Report(w.session, {Succeeded(got[0])});  // a done, b starts
  const uint64_t cursor = LastCursor(*first);
  coord_->Unwatch(watch);  // the follower disconnects
  got = w.conn->Take();
  coord_->Report(w.session, {Succeeded(got[0])});  // b done, c starts
  got = w.conn->Take();
  coord_->Report(w.session, {Succeeded(got[0])});  // c done: the end

  auto resumed = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Follow(id, cursor, resumed));
  ASSERT_TRUE(resumed->finished());
  EXPECT_FALSE(resumed->batch_info()[0].compacted);  // all still in memory
  EXPECT_TRUE(resumed->batch_info().back().end);

  // What the first follower got, then what the resumed one got, is what a
  // follower that never left got: nothing missed, nothing twice.
  std::vector<TaskEvent> joined = first->events();
  for (const TaskEvent& e : resumed->events()) joined.push_back(e);
  std::vector<TaskEvent> expected = whole->events();
  ASSERT_EQ(Describe(joined), Describe(expected));
  for (size_t i = 0; i < joined.size(); ++i) {
    EXPECT_EQ(joined[i].sequence, expected[i].sequence) << "event " << i;
  }
}

TEST_F(CoordinatorTest, ResumeAfterARestartIsCompactedFromTheStore) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(ChainGraph());
  auto first = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(id, first));
  std::vector<Assignment> got = w.conn->Take();
  coord_->Report(w.session, {Succeeded(got[0])});  // a done, b running
  std::vector<Assignment> b = w.conn->Take();
  ASSERT_EQ(b.size(), 1u);
  const uint64_t cursor = LastCursor(*first);

  ASSERT_NO_FATAL_FAILURE(Restart());  // b's attempt waits for its worker
  auto idle = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Follow(id, cursor, idle));
  // Nothing changed since the cursor: nothing to say, and no end yet.
  EXPECT_THAT(idle->events(), IsEmpty());
  EXPECT_EQ(LastCursor(*idle), cursor);
  EXPECT_FALSE(idle->batch_info()[0].end);

  Worker back = Reconnect("w1", 1, {b[0].attempt_id});
  coord_->Report(back.session, {Succeeded(b[0])});
  RunAll(back);
  ASSERT_EQ(View(id).record.state, GraphState::kSucceeded);
  EXPECT_TRUE(idle->finished());
  ASSERT_NO_FATAL_FAILURE(Restart());

  // The daemon restarted since: what happened after the cursor is no
  // longer in memory; the follower gets the state of what changed.
  auto late = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Follow(id, cursor, late));
  ASSERT_TRUE(late->finished());
  EXPECT_TRUE(late->batch_info()[0].compacted);
  EXPECT_TRUE(late->batch_info()[0].end);
  std::vector<TaskEvent> events = late->events();
  // a did not change after the cursor; b and c did.
  EXPECT_THAT(Describe(events),
              ElementsAre("b:succeeded", "c:succeeded", "GRAPH:succeeded"));
  for (const TaskEvent& e : events) EXPECT_GT(e.sequence, cursor);
  EXPECT_EQ(events.back().counts.succeeded, 3);
  EXPECT_EQ(events[1].worker, "w1");
  EXPECT_EQ(events[1].attempt_state, AttemptState::kSucceeded);
}

TEST_F(CoordinatorTest, AFollowerTooFarBehindForMemoryGetsACompactedCatchUp) {
  CoordinatorOptions options = options_;
  options.event_history = 4;
  ASSERT_NO_FATAL_FAILURE(StartWith(options));
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", IndependentTasks(6)));
  auto first = std::make_shared<FakeWatcher>();
  ASSERT_OK_AND_ASSIGN(uint64_t watch, coord_->Watch(id, first));
  const uint64_t cursor = LastCursor(*first);
  coord_->Unwatch(watch);
  for (int i = 0; i < 3; ++i) {
    for (const Assignment& a : w.conn->Take()) {
      coord_->Report(w.session, {Succeeded(a)});
    }
  }
  auto late = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Follow(id, cursor, late));
  EXPECT_TRUE(late->batch_info()[0].compacted);
  // t0..t2 ran; t3 runs now; t4, t5 never changed since the cursor.
  EXPECT_THAT(FinalStates(late->events()),
              ElementsAre("t0:succeeded", "t1:succeeded", "t2:succeeded",
                          "t3:running"));
  // And it follows on from there, live.
  for (int i = 0; i < 3; ++i) {
    for (const Assignment& a : w.conn->Take()) {
      coord_->Report(w.session, {Succeeded(a)});
    }
  }
  ASSERT_TRUE(late->finished());
  EXPECT_THAT(FinalStates(late->events()),
              ElementsAre("t0:succeeded", "t1:succeeded", "t2:succeeded",
                          "t3:succeeded", "t4:succeeded", "t5:succeeded"));
  ExpectInSequence(*late);
}

TEST_F(CoordinatorTest, FollowingEveryGraphSeesNewGraphsAndGoesOn) {
  // An earlier graph, over before the follower starts.
  GraphId before = Submit(MakeGraph("before", {MakeTask("old")}));
  ASSERT_OK(coord_->Cancel(before, {}));
  Worker w = Connect("w1", 2);
  auto all = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Follow(0, 0, all));
  ASSERT_GT(all->batch_info()[0].cursor, 0u);
  // From now on: a first batch with nothing but its cursor.
  ASSERT_EQ(all->batch_info().size(), 1u);
  EXPECT_THAT(all->events(), IsEmpty());

  GraphId one = Submit(MakeGraph("one", {MakeTask("x")}));
  GraphId two = Submit(MakeGraph("two", {MakeTask("y")}));
  for (int i = 0; i < 3; ++i) {
    for (const Assignment& a : w.conn->Take()) {
      coord_->Report(w.session, {Succeeded(a)});
    }
  }
  std::vector<TaskEvent> events = all->events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].graph_id, one);
  EXPECT_EQ(events[0].graph_name, "one");
  int finished = 0;
  for (const TaskEvent& e : events) finished += e.graph_finished;
  EXPECT_EQ(finished, 2);
  for (const EventBatch& b : all->batch_info()) EXPECT_FALSE(b.end);
  ExpectInSequence(*all);

  // Resuming every graph after a restart, from the first cursor: both
  // graphs, compacted, then live again.
  const uint64_t start = all->batch_info()[0].cursor;
  ASSERT_NO_FATAL_FAILURE(Restart());
  auto again = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Follow(0, start, again));
  EXPECT_TRUE(again->batch_info()[0].compacted);
  EXPECT_THAT(Describe(again->events()),
              ElementsAre("x:succeeded", "GRAPH:succeeded", "y:succeeded",
                          "GRAPH:succeeded"));
  Worker w2 = Connect("w2", 1);
  GraphId three = Submit(MakeGraph("three", {MakeTask("z")}));
  EXPECT_EQ(again->events().back().graph_id, three);
  (void)two;
}

TEST_F(CoordinatorTest, ResumingAfterASequenceNeverReachedIsRefused) {
  GraphId id = Submit(ChainGraph());
  auto watcher = std::make_shared<FakeWatcher>();
  EXPECT_CODE(coord_->Follow(id, 1'000'000, watcher),
              absl::StatusCode::kInvalidArgument);
  EXPECT_CODE(coord_->Follow(777, 0, watcher), absl::StatusCode::kNotFound);
  EXPECT_THAT(watcher->events(), IsEmpty());
}

TEST_F(CoordinatorTest, SequenceNumbersGoOnAfterARestart) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  auto before = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(id, before));
  const uint64_t cursor = LastCursor(*before);
  ASSERT_NO_FATAL_FAILURE(Restart());
  GraphId next = Submit(MakeGraph("h", {MakeTask("b")}));
  auto after = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(next, after));
  for (const TaskEvent& e : after->events()) EXPECT_GT(e.sequence, cursor);
}

TEST_F(CoordinatorTest, ResumingAfterTheEndEndsWithoutRepeatingIt) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(ChainGraph());
  auto whole = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(id, whole));
  RunAll(w);
  ASSERT_TRUE(whole->finished());
  const uint64_t end = LastCursor(*whole);
  for (bool restart : {false, true}) {
    if (restart) ASSERT_NO_FATAL_FAILURE(Restart());
    auto again = std::make_shared<FakeWatcher>();
    ASSERT_OK(coord_->Follow(id, end, again));
    EXPECT_THAT(again->events(), IsEmpty()) << "restart " << restart;
    ASSERT_FALSE(again->batch_info().empty());
    EXPECT_TRUE(again->batch_info().back().end);
  }
}

TEST_F(CoordinatorTest, EveryGraphFromNowOnIsNeverACatchUp) {
  // Even before the first event (a fresh database, or one upgraded from a
  // schema without sequence numbers, where every row says 0).
  auto first = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Follow(0, 0, first));
  ASSERT_EQ(first->batch_info().size(), 1u);
  EXPECT_FALSE(first->batch_info()[0].compacted);
  EXPECT_EQ(first->batch_info()[0].cursor, 0u);
  Submit(MakeGraph("old", {MakeTask("x")}));
  ASSERT_NO_FATAL_FAILURE(Restart());
  auto all = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Follow(0, 0, all));
  ASSERT_EQ(all->batch_info().size(), 1u);
  EXPECT_FALSE(all->batch_info()[0].compacted);
  EXPECT_THAT(all->events(), IsEmpty());
}

}  // namespace
}  // namespace vitte::task
