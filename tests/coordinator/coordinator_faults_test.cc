// Fault tolerance of the coordinator core (issue 3): leases, fencing, worker
// and coordinator restarts, retry backoff, the poison bound, drain and
// goodbye, and retrying a finished graph. Time moves only through the
// FakeClock; Tick() stands for the server's ticker, whose period is at most
// kTickPeriod.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "coordinator/coordinator.h"
#include "coordinator/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/coordinator/test_util.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using testing_util::CoordinatorTest;
using testing_util::Failed;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::Succeeded;
using testing_util::TaskIds;
using testing_util::Worker;

// The server ticks at most this long apart (CoordinatorServer clamps
// lease_timeout / 10 to 10..200 ms).
constexpr absl::Duration kTickPeriod = absl::Milliseconds(200);
constexpr absl::Duration kJustUnder = absl::Milliseconds(1);

// --- Leases ---

TEST_F(CoordinatorTest,
       LeaseExpiryRequeuesWithinLeasePlusOneTickAndClosesStream) {
  Worker w1 = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  std::vector<Assignment> old = w1.conn->Take();
  ASSERT_THAT(TaskIds(old), ElementsAre("a"));
  Worker w2 = Connect("w2", 1);

  // w1 is frozen: its stream is open but it sends nothing.
  AdvanceAndTick(options_.lease_timeout - kJustUnder, {&w2});
  EXPECT_THAT(w2.conn->Take(), IsEmpty());
  EXPECT_FALSE(w1.conn->closed());
  EXPECT_EQ(StateOf(id, "a"), TaskState::kRunning);

  AdvanceAndTick(kJustUnder + kTickPeriod, {&w2});
  std::vector<Assignment> moved = w2.conn->Take();
  ASSERT_THAT(TaskIds(moved), ElementsAre("a"));
  EXPECT_NE(moved[0].attempt_id, old[0].attempt_id);
  EXPECT_TRUE(w1.conn->closed());
  EXPECT_EQ(w1.conn->close_status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(w1.conn->close_status().message()), HasSubstr("w1"));
  EXPECT_FALSE(w2.conn->closed());

  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(v.tasks[0].current_attempt, moved[0].attempt_id);
  EXPECT_EQ(v.tasks[0].lost, 1);
  EXPECT_EQ(v.tasks[0].failures, 0);
  ASSERT_THAT(v.attempts[0], SizeIs(2));
  EXPECT_EQ(v.attempts[0][0].state, AttemptState::kLost);
  EXPECT_EQ(v.attempts[0][0].finished_at_ms, clock_.NowMs());
  EXPECT_THAT(v.attempts[0][0].error, HasSubstr("lease"));
  EXPECT_EQ(v.attempts[0][1].worker, "w2");

  // The session is gone: the frozen worker, waking up, learns it.
  EXPECT_FALSE(coord_->Heartbeat(w1.session));
  std::vector<WorkerView> workers = coord_->ListWorkers();
  ASSERT_THAT(workers, SizeIs(1));
  EXPECT_EQ(workers[0].name, "w2");
}

TEST_F(CoordinatorTest, HeartbeatsRenewTheLease) {
  Worker w1 = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  std::vector<Assignment> got = w1.conn->Take();
  ASSERT_THAT(got, SizeIs(1));
  Worker w2 = Connect("w2", 1);

  // Five leases long, heartbeating every half lease.
  for (int i = 0; i < 10; ++i) {
    AdvanceAndTick(options_.lease_timeout / 2, {&w1, &w2});
  }
  EXPECT_FALSE(w1.conn->closed());
  EXPECT_THAT(w2.conn->Take(), IsEmpty());
  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].current_attempt, got[0].attempt_id);
  EXPECT_EQ(v.tasks[0].lost, 0);
  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(got[0])}), 0);
  EXPECT_EQ(View(id).record.state, GraphState::kSucceeded);

  // Once the heartbeats stop, the same worker is lost after one lease.
  AdvanceAndTick(options_.lease_timeout + kTickPeriod, {&w2});
  EXPECT_TRUE(w1.conn->closed());
  EXPECT_FALSE(coord_->Heartbeat(w1.session));
  EXPECT_TRUE(coord_->Heartbeat(w2.session));
}

TEST_F(CoordinatorTest, ReportsRenewTheLease) {
  Worker w1 = Connect("w1", 2);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b")}));
  std::vector<Assignment> got = w1.conn->Take();
  ASSERT_THAT(got, SizeIs(2));
  // Three quarters of a lease, then a result: the lease starts again, so
  // the other attempt survives past the first lease.
  clock_.Advance(options_.lease_timeout * 3 / 4);
  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(got[0])}), 0);
  AdvanceAndTick(options_.lease_timeout * 3 / 4);
  EXPECT_FALSE(w1.conn->closed());
  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(got[1])}), 0);
  EXPECT_EQ(View(id).record.state, GraphState::kSucceeded);
}

TEST_F(CoordinatorTest, HeartbeatOfUnknownSessionIsFalse) {
  EXPECT_FALSE(coord_->Heartbeat(424242));
  Worker w = Connect("w1", 1);
  EXPECT_TRUE(coord_->Heartbeat(w.session));
  Worker replaced = Connect("w1", 1);
  EXPECT_FALSE(coord_->Heartbeat(w.session));
  EXPECT_TRUE(coord_->Heartbeat(replaced.session));
  coord_->Goodbye(replaced.session);
  EXPECT_FALSE(coord_->Heartbeat(replaced.session));
}

// --- Fencing and reconnection ---

TEST_F(CoordinatorTest, BrokenStreamComesBackWithHeldAttemptsAndKeepsThem) {
  Worker old = Connect("w1", 2);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b")}));
  std::vector<Assignment> got = old.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a", "b"));
  const Assignment kept = got[0];
  const Assignment forgotten = got[1];

  clock_.Advance(absl::Seconds(3));
  coord_->CloseSession(old.session);
  clock_.Advance(absl::Seconds(3));
  // Back within the lease, still running a; b died with the stream (say).
  Worker back = Reconnect("w1", 2, {kept.attempt_id});
  EXPECT_NE(back.session, old.session);
  EXPECT_THAT(back.conn->cancels(), IsEmpty());
  EXPECT_FALSE(old.conn->closed()) << "its stream had already ended";

  // b was re-queued at once (not at the end of the lease) and, w1 having a
  // free slot again, runs there under a new attempt.
  std::vector<Assignment> rerun = back.conn->Take();
  ASSERT_THAT(TaskIds(rerun), ElementsAre("b"));
  EXPECT_NE(rerun[0].attempt_id, forgotten.attempt_id);
  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].current_attempt, kept.attempt_id);
  EXPECT_EQ(v.tasks[0].lost, 0);
  ASSERT_THAT(v.attempts[0], SizeIs(1));
  EXPECT_EQ(v.attempts[0][0].state, AttemptState::kRunning);
  ASSERT_THAT(v.attempts[1], SizeIs(2));
  EXPECT_EQ(v.attempts[1][0].state, AttemptState::kLost);
  EXPECT_EQ(v.attempts[1][0].finished_at_ms, clock_.NowMs());
  EXPECT_EQ(v.tasks[1].lost, 1);
  std::vector<WorkerView> workers = coord_->ListWorkers();
  ASSERT_THAT(workers, SizeIs(1));
  EXPECT_EQ(workers[0].session_id, back.session);
  EXPECT_TRUE(workers[0].connected);
  EXPECT_EQ(workers[0].running, 2);

  // The adopted attempt belongs to the new session now, not to the old one.
  EXPECT_EQ(coord_->Report(old.session, {Succeeded(kept)}), 1);
  EXPECT_EQ(StateOf(id, "a"), TaskState::kRunning);
  // Past the old session's lease nothing is lost: it was replaced.
  AdvanceAndTick(options_.lease_timeout - absl::Seconds(1), {&back});
  EXPECT_EQ(coord_->Report(back.session, {Succeeded(kept, "kept\n")}), 0);
  EXPECT_EQ(coord_->Report(back.session, {Succeeded(rerun[0])}), 0);
  v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  ASSERT_THAT(v.attempts[0], SizeIs(1));
  EXPECT_EQ(v.attempts[0][0].state, AttemptState::kSucceeded);
  EXPECT_EQ(v.attempts[0][0].stdout_tail, "kept\n");
  EXPECT_EQ(v.tasks[0].attempts, 1) << "a must not have run again";
}

TEST_F(CoordinatorTest, StaleResultAfterLeaseExpiredIsFencedAndChangesNothing) {
  Worker w1 = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"})}));
  std::vector<Assignment> stale = w1.conn->Take();
  ASSERT_THAT(stale, SizeIs(1));
  Worker w2 = Connect("w2", 1);
  AdvanceAndTick(options_.lease_timeout + kTickPeriod, {&w2});
  std::vector<Assignment> current = w2.conn->Take();
  ASSERT_THAT(TaskIds(current), ElementsAre("a"));
  const GraphView before = View(id);

  // The frozen worker wakes up and reports, both as a success and as a
  // failure: neither is taken.
  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(stale[0], "stale\n")}), 1);
  EXPECT_EQ(coord_->Report(w1.session, {Failed(stale[0], 3)}), 1);
  // Nor on the session of the worker that now runs the task.
  EXPECT_EQ(coord_->Report(w2.session, {Succeeded(stale[0])}), 1);
  GraphView after = View(id);
  EXPECT_EQ(after.record.state, GraphState::kRunning);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(after.tasks[i].state, before.tasks[i].state) << i;
    EXPECT_EQ(after.tasks[i].current_attempt, before.tasks[i].current_attempt);
    EXPECT_EQ(after.tasks[i].failures, 0);
    ASSERT_EQ(after.attempts[i].size(), before.attempts[i].size());
    for (size_t k = 0; k < after.attempts[i].size(); ++k) {
      EXPECT_EQ(after.attempts[i][k].state, before.attempts[i][k].state);
      EXPECT_EQ(after.attempts[i][k].stdout_tail, "");
    }
  }
  EXPECT_EQ(after.tasks[1].state, TaskState::kPending);
  EXPECT_THAT(w2.conn->Take(), IsEmpty());

  EXPECT_EQ(coord_->Report(w2.session, {Succeeded(current[0])}), 0);
  EXPECT_THAT(RunAll(w2), ElementsAre("b"));
  GraphView done = View(id);
  EXPECT_EQ(done.record.state, GraphState::kSucceeded);
  int successes = 0;
  for (const AttemptRecord& a : done.attempts[0]) {
    successes += a.state == AttemptState::kSucceeded;
  }
  EXPECT_EQ(successes, 1);
}

TEST_F(CoordinatorTest, HeldAttemptsNoLongerCurrentComeBackAsCancels) {
  Worker w1 = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  std::vector<Assignment> stale = w1.conn->Take();
  ASSERT_THAT(stale, SizeIs(1));
  Worker w2 = Connect("w2", 1);
  AdvanceAndTick(options_.lease_timeout + kTickPeriod, {&w2});
  std::vector<Assignment> current = w2.conn->Take();
  ASSERT_THAT(current, SizeIs(1));

  // The lost worker reconnects still holding its attempt, plus one the
  // coordinator never heard of.
  constexpr AttemptId kUnknown = 987654;
  Worker back = Reconnect("w1", 1, {kUnknown, stale[0].attempt_id});
  EXPECT_THAT(back.conn->cancels(),
              UnorderedElementsAre(stale[0].attempt_id, kUnknown));
  std::vector<std::string> calls = back.conn->calls();
  ASSERT_THAT(calls, SizeIs(2));
  EXPECT_EQ(calls[0], "registered");
  EXPECT_EQ(calls[1], "send 0+2");
  // Nothing moved: the task stays with w2, and the stale id is still
  // refused on the new session.
  EXPECT_THAT(back.conn->Take(), IsEmpty());
  EXPECT_EQ(View(id).tasks[0].current_attempt, current[0].attempt_id);
  EXPECT_EQ(coord_->Report(back.session, {Succeeded(stale[0])}), 1);
  EXPECT_EQ(View(id).tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(coord_->Report(w2.session, {Succeeded(current[0])}), 0);
}

TEST_F(CoordinatorTest, NamesakeStillConnectedIsClosedAndItsHeldAttemptsMove) {
  Worker old = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  std::vector<Assignment> got = old.conn->Take();
  ASSERT_THAT(got, SizeIs(1));
  // A new stream of the same process, opened before the old one was seen
  // to break.
  Worker fresh = Reconnect("w1", 1, {got[0].attempt_id});
  EXPECT_TRUE(old.conn->closed());
  EXPECT_EQ(old.conn->close_status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(fresh.conn->cancels(), IsEmpty());
  EXPECT_THAT(fresh.conn->Take(), IsEmpty());
  EXPECT_EQ(View(id).tasks[0].lost, 0);
  EXPECT_EQ(coord_->Report(old.session, {Succeeded(got[0])}), 1);
  EXPECT_EQ(coord_->Report(fresh.session, {Succeeded(got[0])}), 0);
  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  EXPECT_THAT(v.attempts[0], SizeIs(1));
}

// --- Coordinator restart ---

TEST_F(CoordinatorTest, RestartWorkerComingBackWithItsAttemptKeepsIt) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"b"})}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_EQ(coord_->Report(w.session, {Succeeded(got[0])}), 0);
  got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("b"));
  const Assignment b = got[0];

  clock_.Advance(absl::Seconds(5));
  ASSERT_NO_FATAL_FAILURE(Restart());
  clock_.Advance(absl::Seconds(2));
  Worker back = Reconnect("w1", 1, {b.attempt_id});
  EXPECT_THAT(back.conn->cancels(), IsEmpty());
  EXPECT_THAT(back.conn->Take(), IsEmpty()) << "b is still running on w1";
  ASSERT_THAT(coord_->ListWorkers(), SizeIs(1));
  EXPECT_EQ(coord_->ListWorkers()[0].running, 1);

  // Past the grace period the adopted attempt is not lost.
  AdvanceAndTick(options_.lease_timeout, {&back});
  EXPECT_EQ(StateOf(id, "b"), TaskState::kRunning);
  EXPECT_EQ(coord_->Report(back.session, {Succeeded(b)}), 0);
  EXPECT_THAT(RunAll(back), ElementsAre("c"));
  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  EXPECT_EQ(v.tasks[1].attempts, 1) << "b must not have run again";
  EXPECT_EQ(v.tasks[1].lost, 0);
  ASSERT_THAT(v.attempts[1], SizeIs(1));
  EXPECT_EQ(v.attempts[1][0].id, b.attempt_id);
  EXPECT_EQ(v.attempts[1][0].state, AttemptState::kSucceeded);
}

TEST_F(CoordinatorTest,
       RestartLosesUnclaimedAttemptsAfterLeaseTimeoutNotBefore) {
  Worker w = Connect("w1", 2);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b")}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a", "b"));

  ASSERT_NO_FATAL_FAILURE(Restart());
  // w1 does not come back in time; another worker is there to run what is
  // re-queued.
  Worker other = Connect("w2", 2);
  EXPECT_THAT(other.conn->Take(), IsEmpty());
  AdvanceAndTick(options_.lease_timeout - kJustUnder, {&other});
  EXPECT_THAT(other.conn->Take(), IsEmpty()) << "lost before the grace ended";
  GraphView v = View(id);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(v.tasks[i].state, TaskState::kRunning);
    EXPECT_EQ(v.tasks[i].current_attempt, got[i].attempt_id);
  }

  AdvanceAndTick(kJustUnder + kTickPeriod, {&other});
  EXPECT_THAT(TaskIds(other.conn->Take()), UnorderedElementsAre("a", "b"));
  v = View(id);
  for (int i = 0; i < 2; ++i) {
    ASSERT_THAT(v.attempts[i], SizeIs(2));
    EXPECT_EQ(v.attempts[i][0].state, AttemptState::kLost);
    EXPECT_THAT(v.attempts[i][0].error, HasSubstr("w1"));
    EXPECT_EQ(v.tasks[i].lost, 1);
    EXPECT_EQ(v.tasks[i].failures, 0);
  }

  // The worker turns up late: what it held is no longer its own.
  Worker late = Reconnect("w1", 2, {got[0].attempt_id});
  EXPECT_THAT(late.conn->cancels(), ElementsAre(got[0].attempt_id));
  EXPECT_EQ(coord_->Report(late.session, {Succeeded(got[0])}), 1);
  EXPECT_EQ(StateOf(id, "a"), TaskState::kRunning);
}

TEST_F(CoordinatorTest, RestartWorkerBackWithSomeAttemptsLosesTheOthersAtOnce) {
  Worker w = Connect("w1", 2);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b")}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a", "b"));
  ASSERT_NO_FATAL_FAILURE(Restart());

  Worker back = Reconnect("w1", 2, {got[0].attempt_id});
  std::vector<Assignment> rerun = back.conn->Take();
  ASSERT_THAT(TaskIds(rerun), ElementsAre("b"));
  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].current_attempt, got[0].attempt_id);
  EXPECT_EQ(v.tasks[1].current_attempt, rerun[0].attempt_id);
  EXPECT_EQ(v.tasks[1].lost, 1);
  EXPECT_EQ(coord_->Report(back.session, {Succeeded(got[0])}), 0);
  EXPECT_EQ(coord_->Report(back.session, {Succeeded(got[1])}), 1);
  EXPECT_EQ(coord_->Report(back.session, {Succeeded(rerun[0])}), 0);
  EXPECT_EQ(View(id).record.state, GraphState::kSucceeded);
}

TEST_F(CoordinatorTest, CancelWhileWorkerIsAwayReachesItWhenItComesBack) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b")}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a"));
  ASSERT_NO_FATAL_FAILURE(Restart());

  ASSERT_OK_AND_ASSIGN(int64_t cancelled, coord_->Cancel(id, {"a"}));
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(StateOf(id, "a"), TaskState::kCancelled);
  Worker back = Reconnect("w1", 1, {got[0].attempt_id});
  EXPECT_THAT(back.conn->cancels(), ElementsAre(got[0].attempt_id));
  EXPECT_THAT(TaskIds(back.conn->Take()), ElementsAre("b"));
  EXPECT_EQ(coord_->Report(back.session, {Succeeded(got[0])}), 1);
  EXPECT_EQ(StateOf(id, "a"), TaskState::kCancelled);
}

// --- Retry backoff ---

class RetryBackoffTest : public CoordinatorTest {
 protected:
  void SetUp() override {
    CoordinatorTest::SetUp();
    CoordinatorOptions o = options_;
    o.retry_backoff = absl::Seconds(1);
    o.max_retry_backoff = absl::Seconds(3);
    ASSERT_NO_FATAL_FAILURE(StartWith(o));
  }

  // Checks that `w` gets the task only once `delay` has passed since now.
  void ExpectRetriedAfter(Worker& w, absl::Duration delay,
                          std::vector<Assignment>& got) {
    AdvanceAndTick(delay - kJustUnder, {&w});
    EXPECT_THAT(w.conn->Take(), IsEmpty()) << "retried before " << delay;
    AdvanceAndTick(kJustUnder, {&w});
    got = w.conn->Take();
    EXPECT_THAT(got, SizeIs(1)) << "not retried after " << delay;
  }
};

TEST_F(RetryBackoffTest, DelaysDoubleUpToTheCap) {
  Worker w = Connect("w1", 1);
  TaskSpec flaky = MakeTask("flaky", {}, 1);
  flaky.max_attempts = 5;
  GraphId id = Submit(MakeGraph("g", {flaky, MakeTask("other")}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("flaky"));

  // The first failure frees the slot at once for other work.
  EXPECT_EQ(coord_->Report(w.session, {Failed(got[0])}), 0);
  std::vector<Assignment> other = w.conn->Take();
  ASSERT_THAT(TaskIds(other), ElementsAre("other"));
  EXPECT_EQ(StateOf(id, "flaky"), TaskState::kReady);
  EXPECT_EQ(coord_->Report(w.session, {Succeeded(other[0])}), 0);
  EXPECT_THAT(w.conn->Take(), IsEmpty()) << "flaky is backing off";

  // 1 s, 2 s, then 4 s and 8 s capped at 3 s.
  for (absl::Duration delay : {absl::Seconds(1), absl::Seconds(2),
                               absl::Seconds(3), absl::Seconds(3)}) {
    if (delay != absl::Seconds(1)) {
      ASSERT_THAT(got, SizeIs(1));
      EXPECT_EQ(coord_->Report(w.session, {Failed(got[0])}), 0);
    }
    ASSERT_NO_FATAL_FAILURE(ExpectRetriedAfter(w, delay, got));
    ASSERT_THAT(TaskIds(got), ElementsAre("flaky"));
  }
  EXPECT_EQ(coord_->Report(w.session, {Succeeded(got[0])}), 0);
  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  EXPECT_EQ(v.tasks[0].attempts, 5);
  EXPECT_EQ(v.tasks[0].failures, 4);
}

TEST_F(RetryBackoffTest, BackingOffTaskGoesToNoWorker) {
  Worker w1 = Connect("w1", 1);
  TaskSpec flaky = MakeTask("flaky");
  flaky.max_attempts = 2;
  GraphId id = Submit(MakeGraph("g", {flaky}));
  std::vector<Assignment> got = w1.conn->Take();
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(coord_->Report(w1.session, {Failed(got[0])}), 0);
  // A worker arriving during the backoff does not get it either.
  Worker w2 = Connect("w2", 4);
  EXPECT_THAT(w2.conn->Take(), IsEmpty());
  AdvanceAndTick(absl::Seconds(1) - kJustUnder, {&w1, &w2});
  EXPECT_THAT(w1.conn->Take(), IsEmpty());
  EXPECT_THAT(w2.conn->Take(), IsEmpty());
  AdvanceAndTick(kJustUnder, {&w1, &w2});
  std::vector<Assignment> retried = w1.conn->Take();
  for (Assignment& a : w2.conn->Take()) retried.push_back(std::move(a));
  ASSERT_THAT(TaskIds(retried), ElementsAre("flaky"));
  EXPECT_EQ(View(id).tasks[0].attempts, 2);
}

TEST_F(RetryBackoffTest, TaskCancelledDuringBackoffIsNotRunAfterIt) {
  Worker w = Connect("w1", 1);
  TaskSpec flaky = MakeTask("flaky");
  flaky.max_attempts = 3;
  GraphId id = Submit(MakeGraph("g", {flaky, MakeTask("next", {"flaky"})}));
  std::vector<Assignment> got = w.conn->Take();
  EXPECT_EQ(coord_->Report(w.session, {Failed(got[0])}), 0);
  ASSERT_OK_AND_ASSIGN(int64_t cancelled, coord_->Cancel(id, {"flaky"}));
  EXPECT_EQ(cancelled, 1);
  AdvanceAndTick(absl::Seconds(5), {&w});
  EXPECT_THAT(w.conn->Take(), IsEmpty());
  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].state, TaskState::kCancelled);
  EXPECT_EQ(v.tasks[1].state, TaskState::kSkipped);
  EXPECT_EQ(v.record.state, GraphState::kCancelled);
}

// A graph cancelled while its tasks waited for a worker, then retried, must
// still back off between the attempts of a failing task.
TEST_F(RetryBackoffTest, RetriedGraphStillBacksOff) {
  TaskSpec flaky = MakeTask("flaky");
  flaky.max_attempts = 2;
  GraphId id = Submit(MakeGraph("g", {flaky}));
  // No worker yet: flaky waits in the ready queue when it is cancelled.
  ASSERT_OK(coord_->Cancel(id, {}));
  ASSERT_EQ(View(id).record.state, GraphState::kCancelled);
  ASSERT_OK_AND_ASSIGN(int64_t retried, coord_->Retry(id));
  EXPECT_EQ(retried, 1);

  Worker w = Connect("w1", 1);
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("flaky"));
  EXPECT_EQ(coord_->Report(w.session, {Failed(got[0])}), 0);
  // The cancel left a stale ready-queue entry; it must not bypass the
  // backoff.
  EXPECT_THAT(w.conn->Take(), IsEmpty());
  ASSERT_NO_FATAL_FAILURE(ExpectRetriedAfter(w, absl::Seconds(1), got));
}

// --- Poison bound ---

TEST_F(CoordinatorTest, TaskLosingItsWorkerTooOftenFailsAsPoison) {
  CoordinatorOptions o = options_;
  o.max_lost_attempts = 2;
  ASSERT_NO_FATAL_FAILURE(StartWith(o));
  TaskSpec poison = MakeTask("poison");
  poison.max_attempts = 1;  // a loss must not use this up
  GraphId id = Submit(
      MakeGraph("g", {poison, MakeTask("after", {"poison"}),
                      MakeTask("then", {"after"}), MakeTask("unrelated")}));
  Worker w1 = Connect("w1", 1);
  std::vector<Assignment> got = w1.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("poison"));
  Worker w2 = Connect("w2", 1);
  std::vector<Assignment> unrelated = w2.conn->Take();
  ASSERT_THAT(TaskIds(unrelated), ElementsAre("unrelated"));
  EXPECT_EQ(coord_->Report(w2.session, {Succeeded(unrelated[0])}), 0);

  // First loss: w1 goes silent. The task runs again, on w2.
  AdvanceAndTick(options_.lease_timeout + kTickPeriod, {&w2});
  got = w2.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("poison"));
  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(v.tasks[0].lost, 1);
  EXPECT_EQ(v.tasks[0].failures, 0);

  // Second loss: w2 dies and restarts. That is the bound.
  Worker w2_again = Connect("w2", 1);
  EXPECT_THAT(w2_again.conn->Take(), IsEmpty());
  v = View(id);
  EXPECT_EQ(v.tasks[0].state, TaskState::kFailed);
  EXPECT_EQ(v.tasks[0].lost, 2);
  EXPECT_EQ(v.tasks[0].failures, 0);
  EXPECT_EQ(v.tasks[1].state, TaskState::kSkipped);
  EXPECT_EQ(v.tasks[1].skipped_because, 0);
  EXPECT_EQ(v.tasks[2].state, TaskState::kSkipped);
  EXPECT_EQ(v.tasks[2].skipped_because, 0);
  EXPECT_EQ(v.tasks[3].state, TaskState::kSucceeded);
  EXPECT_EQ(v.record.state, GraphState::kFailed);
  ASSERT_THAT(v.attempts[0], SizeIs(2));
  EXPECT_EQ(v.attempts[0][1].state, AttemptState::kLost);
  EXPECT_THAT(v.attempts[0][1].error, HasSubstr("poison"));
  EXPECT_THAT(v.attempts[0][0].error, ::testing::Not(HasSubstr("poison")));
}

// --- Drain and goodbye ---

TEST_F(CoordinatorTest, DrainStopsDispatchButRunningAttemptsStillReport) {
  Worker w1 = Connect("w1", 2);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b"),
                                      MakeTask("c"), MakeTask("d", {"a"})}));
  std::vector<Assignment> got = w1.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a", "b"));
  coord_->Drain(w1.session);
  std::vector<WorkerView> workers = coord_->ListWorkers();
  ASSERT_THAT(workers, SizeIs(1));
  EXPECT_TRUE(workers[0].draining);

  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(got[0])}), 0);
  EXPECT_EQ(coord_->Report(w1.session, {Failed(got[1], 4)}), 0);
  EXPECT_THAT(w1.conn->Take(), IsEmpty()) << "a draining worker takes nothing";
  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(v.tasks[1].state, TaskState::kFailed);
  EXPECT_EQ(v.tasks[2].state, TaskState::kReady);
  EXPECT_EQ(v.tasks[3].state, TaskState::kReady);

  Worker w2 = Connect("w2", 2);
  EXPECT_THAT(TaskIds(w2.conn->Take()), UnorderedElementsAre("c", "d"));
}

TEST_F(CoordinatorTest, GoodbyeRequeuesAtOnceWithoutCountingFailureOrLoss) {
  // With these bounds a single failure or loss would end the task.
  CoordinatorOptions o = options_;
  o.max_lost_attempts = 1;
  ASSERT_NO_FATAL_FAILURE(StartWith(o));
  Worker w1 = Connect("w1", 2);
  TaskSpec a = MakeTask("a");
  a.max_attempts = 1;
  GraphId id = Submit(MakeGraph("g", {a, MakeTask("b", {"a"})}));
  std::vector<Assignment> got = w1.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a"));
  coord_->Drain(w1.session);
  coord_->Goodbye(w1.session);

  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].state, TaskState::kReady);
  EXPECT_EQ(v.tasks[0].failures, 0);
  EXPECT_EQ(v.tasks[0].lost, 0);
  EXPECT_EQ(v.tasks[0].current_attempt, 0u);
  ASSERT_THAT(v.attempts[0], SizeIs(1));
  EXPECT_NE(v.attempts[0][0].state, AttemptState::kRunning);
  EXPECT_NE(v.attempts[0][0].state, AttemptState::kFailed);
  EXPECT_EQ(v.attempts[0][0].finished_at_ms, clock_.NowMs());
  EXPECT_THAT(coord_->ListWorkers(), IsEmpty());
  EXPECT_FALSE(coord_->Heartbeat(w1.session));
  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(got[0])}), 1);

  // No lease to wait for: the next worker gets it straight away.
  Worker w2 = Connect("w2", 1);
  std::vector<Assignment> again = w2.conn->Take();
  ASSERT_THAT(TaskIds(again), ElementsAre("a"));
  EXPECT_EQ(coord_->Report(w2.session, {Succeeded(again[0])}), 0);
  EXPECT_THAT(RunAll(w2), ElementsAre("b"));
  EXPECT_EQ(View(id).record.state, GraphState::kSucceeded);
}

// --- Retry of a finished graph ---

TEST_F(CoordinatorTest, RetryRerunsOnlyFailedAndSkippedTasks) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"}),
                                      MakeTask("c", {"b"}), MakeTask("d")}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a"));
  EXPECT_CODE(coord_->Retry(id), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(coord_->Report(w.session, {Succeeded(got[0])}), 0);
  got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("b"));
  EXPECT_EQ(coord_->Report(w.session, {Failed(got[0], 2)}), 0);
  EXPECT_THAT(RunAll(w), ElementsAre("d"));
  GraphView v = View(id);
  ASSERT_EQ(v.record.state, GraphState::kFailed);
  ASSERT_EQ(v.tasks[2].state, TaskState::kSkipped);

  ASSERT_OK_AND_ASSIGN(int64_t retried, coord_->Retry(id));
  EXPECT_EQ(retried, 2);
  v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kRunning);
  EXPECT_EQ(v.record.finished_at_ms, 0);
  EXPECT_EQ(v.tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(v.tasks[3].state, TaskState::kSucceeded);
  EXPECT_EQ(v.tasks[2].state, TaskState::kPending);
  EXPECT_EQ(v.tasks[2].skipped_because, -1);
  EXPECT_EQ(v.tasks[1].failures, 0) << "the failure budget starts afresh";
  // Running it again cannot be asked twice.
  EXPECT_CODE(coord_->Retry(id), absl::StatusCode::kFailedPrecondition);

  EXPECT_THAT(RunAll(w), ElementsAre("b", "c"));
  v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  EXPECT_THAT(v.attempts[0], SizeIs(1)) << "a must not run again";
  EXPECT_THAT(v.attempts[3], SizeIs(1)) << "d must not run again";
  ASSERT_THAT(v.attempts[1], SizeIs(2));
  EXPECT_EQ(v.attempts[1][0].state, AttemptState::kFailed);
  EXPECT_EQ(v.attempts[1][1].number, 2);
  EXPECT_EQ(v.attempts[1][1].state, AttemptState::kSucceeded);
  EXPECT_THAT(v.attempts[2], SizeIs(1));

  absl::StatusOr<int64_t> again = coord_->Retry(id);
  EXPECT_CODE(again, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("succeeded"));
  EXPECT_CODE(coord_->Retry(id + 100), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, RetryOfCancelledGraphRunsCancelledAndSkippedTasks) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(
      MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c")}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a"));
  ASSERT_OK(coord_->Cancel(id, {"a"}));
  EXPECT_THAT(RunAll(w), ElementsAre("c"));
  ASSERT_EQ(View(id).record.state, GraphState::kCancelled);

  ASSERT_OK_AND_ASSIGN(int64_t retried, coord_->Retry(id));
  EXPECT_EQ(retried, 2);
  EXPECT_FALSE(View(id).record.cancel_requested);
  EXPECT_THAT(RunAll(w), ElementsAre("a", "b"));
  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  EXPECT_THAT(v.attempts[2], SizeIs(1));
  ASSERT_THAT(v.attempts[0], SizeIs(2));
  EXPECT_EQ(v.attempts[0][0].state, AttemptState::kCancelled);
}

TEST_F(CoordinatorTest, RetriedGraphSurvivesARestart) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"})}));
  std::vector<Assignment> got = w.conn->Take();
  EXPECT_EQ(coord_->Report(w.session, {Failed(got[0])}), 0);
  ASSERT_EQ(View(id).record.state, GraphState::kFailed);
  // No worker: the retried tasks are still ready, not running, at the
  // restart.
  coord_->Goodbye(w.session);
  ASSERT_OK(coord_->Retry(id));
  ASSERT_NO_FATAL_FAILURE(Restart());
  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kRunning);
  EXPECT_EQ(v.tasks[0].state, TaskState::kReady);
  EXPECT_EQ(v.tasks[1].state, TaskState::kPending);
  EXPECT_EQ(v.tasks[1].skipped_because, -1);
  Worker back = Connect("w1", 1);
  EXPECT_THAT(RunAll(back), ElementsAre("a", "b"));
  EXPECT_EQ(View(id).record.state, GraphState::kSucceeded);
}

}  // namespace
}  // namespace vitte::task
