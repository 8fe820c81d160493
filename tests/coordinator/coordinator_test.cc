#include "coordinator/coordinator.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
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
using testing_util::ExpectInSequence;
using testing_util::CoordinatorTest;
using testing_util::Describe;
using testing_util::Failed;
using testing_util::FakeConnection;
using testing_util::FakeWatcher;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::Succeeded;
using testing_util::TaskIds;
using testing_util::Worker;

// --- Submission and dispatch ---

TEST_F(CoordinatorTest, SubmitDispatchesToOpenSessionUpToItsSlots) {
  Worker w = Connect("w1", 2);
  GraphId id = Submit(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b"), MakeTask("c"), MakeTask("d", {"a"})}));
  ASSERT_NE(id, 0);
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a", "b"));
  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(v.tasks[1].state, TaskState::kRunning);
  EXPECT_EQ(v.tasks[2].state, TaskState::kReady);
  EXPECT_EQ(v.tasks[3].state, TaskState::kPending);
  EXPECT_EQ(v.tasks[0].current_attempt, got[0].attempt_id);
  EXPECT_EQ(v.counts.running, 2);
  EXPECT_EQ(v.counts.ready, 1);
  ASSERT_THAT(coord_->ListWorkers(), SizeIs(1));
  EXPECT_EQ(coord_->ListWorkers()[0].running, 2);

  // A freed slot takes the next ready task.
  EXPECT_EQ(coord_->Report(w.session, {Succeeded(got[1])}), 0);
  EXPECT_THAT(TaskIds(w.conn->Take()), ElementsAre("c"));
}

TEST_F(CoordinatorTest, AssignmentCarriesTheTaskSpec) {
  Worker w = Connect("w1");
  TaskSpec t = MakeTask("compile");
  t.command = {"make", "-j4", "all"};
  t.env = {{"CC", "clang"}, {"LANG", "C"}};
  t.cwd = "/src/project";
  t.timeout_s = 30;
  GraphId id = Submit(MakeGraph("g", {t}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(got, SizeIs(1));
  const Assignment& a = got[0];
  EXPECT_NE(a.attempt_id, 0u);
  EXPECT_EQ(a.graph_id, id);
  EXPECT_EQ(a.task_id, "compile");
  EXPECT_THAT(a.command, ElementsAre("make", "-j4", "all"));
  EXPECT_EQ(a.env, t.env);
  EXPECT_EQ(a.cwd, "/src/project");
  EXPECT_EQ(a.timeout_s, 30);
}

TEST_F(CoordinatorTest, OnRegisteredComesBeforeAnyAssignment) {
  options_.heartbeat_interval = absl::Milliseconds(1500);
  coord_.reset();
  ASSERT_NO_FATAL_FAILURE(Start());  // with the new options, same store
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b")}));
  ASSERT_NE(id, 0);
  Worker w = Connect("w1", 4);
  EXPECT_THAT(w.conn->calls(), ElementsAre("registered", "send 2+0"));
  EXPECT_EQ(w.conn->session(), w.session);
  EXPECT_EQ(w.conn->heartbeat(), absl::Milliseconds(1500));
}

TEST_F(CoordinatorTest, OpenSessionRejectsBadRegistration) {
  auto conn = std::make_shared<FakeConnection>();
  WorkerRegistration nameless;
  EXPECT_CODE(coord_->OpenSession(nameless, conn),
              absl::StatusCode::kInvalidArgument);
  WorkerRegistration no_slots;
  no_slots.name = "w";
  no_slots.slots = 0;
  EXPECT_CODE(coord_->OpenSession(no_slots, conn),
              absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(conn->calls(), IsEmpty());
  EXPECT_THAT(coord_->ListWorkers(), IsEmpty());
}

TEST_F(CoordinatorTest, OriginExampleAnalyseThenBuild) {
  Worker w = Connect("w1", 4);
  GraphId id = Submit(MakeGraph(
      "origin", {MakeTask("analyse"), MakeTask("build", {"analyse"})}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("analyse"));
  clock_.Advance(absl::Seconds(3));
  EXPECT_EQ(coord_->Report(w.session, {Succeeded(got[0], "Analyse du module...\n")}),
            0);
  got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("build"));
  EXPECT_EQ(StateOf(id, "analyse"), TaskState::kSucceeded);
  EXPECT_EQ(StateOf(id, "build"), TaskState::kRunning);
  clock_.Advance(absl::Seconds(4));
  EXPECT_EQ(coord_->Report(w.session,
                           {Succeeded(got[0], "Compilation du module...\n")}),
            0);

  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  EXPECT_EQ(v.record.finished_at_ms, clock_.NowMs());
  EXPECT_EQ(v.counts.succeeded, 2);
  EXPECT_EQ(v.counts.total(), 2);
  ASSERT_THAT(v.attempts, SizeIs(2));
  ASSERT_THAT(v.attempts[0], SizeIs(1));
  const AttemptRecord& a = v.attempts[0][0];
  EXPECT_EQ(a.worker, "w1");
  EXPECT_EQ(a.session_id, w.session);
  EXPECT_EQ(a.state, AttemptState::kSucceeded);
  EXPECT_EQ(a.number, 1);
  EXPECT_EQ(a.exit_code, 0);
  EXPECT_EQ(a.stdout_tail, "Analyse du module...\n");
  EXPECT_EQ(a.started_at_ms + 3000, a.finished_at_ms);
  ASSERT_THAT(v.attempts[1], SizeIs(1));
  EXPECT_EQ(v.attempts[1][0].stdout_tail, "Compilation du module...\n");
  EXPECT_THAT(w.conn->Take(), IsEmpty());
  ASSERT_THAT(coord_->ListWorkers(), SizeIs(1));
  EXPECT_EQ(coord_->ListWorkers()[0].running, 0);

  ASSERT_OK_AND_ASSIGN(auto graphs, coord_->ListGraphs(10));
  ASSERT_THAT(graphs, SizeIs(1));
  EXPECT_EQ(graphs[0].record.name, "origin");
  EXPECT_EQ(graphs[0].record.state, GraphState::kSucceeded);
  EXPECT_EQ(graphs[0].counts.succeeded, 2);
}

TEST_F(CoordinatorTest, DiamondRunsMiddleInParallelAndJoins) {
  Worker w = Connect("w1", 4);
  GraphId id = Submit(MakeGraph(
      "diamond", {MakeTask("top"), MakeTask("left", {"top"}),
                  MakeTask("right", {"top"}), MakeTask("bottom", {"left", "right"})}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("top"));
  coord_->Report(w.session, {Succeeded(got[0])});
  got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), UnorderedElementsAre("left", "right"));
  coord_->Report(w.session, {Succeeded(got[0])});
  EXPECT_THAT(w.conn->Take(), IsEmpty()) << "bottom must wait for both";
  EXPECT_EQ(StateOf(id, "bottom"), TaskState::kPending);
  coord_->Report(w.session, {Succeeded(got[1])});
  got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("bottom"));
  coord_->Report(w.session, {Succeeded(got[0])});
  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  EXPECT_EQ(v.counts.succeeded, 4);
}

TEST_F(CoordinatorTest, HigherPriorityFirstOnOneSlot) {
  GraphSpec spec = MakeGraph(
      "g", {MakeTask("low", {}, 1), MakeTask("high", {}, 5),
            MakeTask("mid", {}, 3), MakeTask("neg", {}, -2),
            MakeTask("after-low", {"low"}, 10)});
  Submit(spec);
  Worker w = Connect("w1", 1);
  // after-low outranks everything, but only once low has succeeded.
  EXPECT_THAT(RunAll(w), ElementsAre("high", "mid", "low", "after-low", "neg"));
}

TEST_F(CoordinatorTest, EqualPriorityInSubmissionOrderAcrossGraphs) {
  Submit(MakeGraph("g1", {MakeTask("a1"), MakeTask("a2")}));
  Submit(MakeGraph("g2", {MakeTask("b1"), MakeTask("b2")}));
  GraphSpec urgent = MakeGraph("g3", {MakeTask("c1"), MakeTask("c2", {}, 1)});
  Submit(urgent);
  Worker w = Connect("w1", 1);
  EXPECT_THAT(RunAll(w), ElementsAre("c2", "a1", "a2", "b1", "b2", "c1"));
}

TEST_F(CoordinatorTest, LabelledTaskGoesOnlyToMatchingWorker) {
  TaskSpec linux_only = MakeTask("linux-only");
  linux_only.labels = {{"os", "linux"}};
  GraphId id = Submit(MakeGraph("g", {MakeTask("anywhere"), linux_only}));
  Worker mac = Connect("mac", 4, {{"os", "darwin"}});
  Worker bare = Connect("bare", 4);
  std::vector<Assignment> mac_got = mac.conn->Take();
  std::vector<Assignment> bare_got = bare.conn->Take();
  std::vector<std::string> both = TaskIds(mac_got);
  for (const std::string& t : TaskIds(bare_got)) both.push_back(t);
  EXPECT_THAT(both, ElementsAre("anywhere"));
  EXPECT_EQ(StateOf(id, "linux-only"), TaskState::kReady);

  Worker lin = Connect("lin", 1, {{"os", "linux"}, {"arch", "amd64"}});
  EXPECT_THAT(TaskIds(lin.conn->Take()), ElementsAre("linux-only"));
  EXPECT_THAT(mac.conn->Take(), IsEmpty());
  EXPECT_THAT(bare.conn->Take(), IsEmpty());
}

TEST_F(CoordinatorTest, WorkerMissingOneOfTwoLabelsStaysIdle) {
  TaskSpec gpu = MakeTask("train");
  gpu.labels = {{"os", "linux"}, {"gpu", "yes"}};
  GraphId id = Submit(MakeGraph("g", {gpu}));
  Worker cpu = Connect("cpu", 8, {{"os", "linux"}});
  Worker wrong = Connect("wrong", 8, {{"os", "linux"}, {"gpu", "no"}});
  EXPECT_THAT(cpu.conn->Take(), IsEmpty());
  EXPECT_THAT(wrong.conn->Take(), IsEmpty());
  EXPECT_EQ(StateOf(id, "train"), TaskState::kReady);
  Worker good = Connect("good", 1, {{"os", "linux"}, {"gpu", "yes"}, {"x", "y"}});
  EXPECT_THAT(TaskIds(good.conn->Take()), ElementsAre("train"));
}

TEST_F(CoordinatorTest, ServeLabelWorkerTakesOnlyTasksThatRequireThem) {
  TaskSpec release = MakeTask("release");
  release.labels = {{"pool", "release"}};
  TaskSpec release_linux = MakeTask("release-linux");
  release_linux.labels = {{"pool", "release"}, {"os", "linux"}};
  TaskSpec nightly = MakeTask("nightly");
  nightly.labels = {{"pool", "nightly"}};
  // The unlabelled tasks come first and have the higher priority: a queue
  // that ignored serve-labels would hand them to the signer.
  GraphId id = Submit(
      MakeGraph("g", {MakeTask("plain1", {}, 5), MakeTask("plain2", {}, 5),
                      release, release_linux, nightly}));

  WorkerRegistration reg;
  reg.name = "signer";
  reg.slots = 8;
  reg.serve_labels = {{"pool", "release"}};
  Worker signer = Open(reg);
  // release-linux also needs os=linux, which the signer lacks.
  std::vector<Assignment> got = signer.conn->Take();
  EXPECT_THAT(TaskIds(got), ElementsAre("release"));
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(got[0].labels, (Labels{{"pool", "release"}}));
  EXPECT_EQ(StateOf(id, "plain1"), TaskState::kReady);

  // A plain worker gets the unlabelled tasks, and nothing labelled.
  Worker plain = Connect("plain", 8);
  EXPECT_THAT(TaskIds(plain.conn->Take()), ElementsAre("plain1", "plain2"));
  EXPECT_EQ(StateOf(id, "release-linux"), TaskState::kReady);
  EXPECT_EQ(StateOf(id, "nightly"), TaskState::kReady);

  // A serve-label is a label: with os=linux too, release-linux matches.
  reg.name = "linux-signer";
  reg.labels = {{"os", "linux"}};
  Worker linux_signer = Open(reg);
  EXPECT_THAT(TaskIds(linux_signer.conn->Take()), ElementsAre("release-linux"));
  EXPECT_EQ(StateOf(id, "nightly"), TaskState::kReady);

  std::vector<WorkerView> workers = coord_->ListWorkers();
  ASSERT_THAT(workers, SizeIs(3));
  EXPECT_EQ(workers[0].name, "linux-signer");
  EXPECT_EQ(workers[0].labels, (Labels{{"os", "linux"}, {"pool", "release"}}));
  EXPECT_EQ(workers[0].serve_labels, (Labels{{"pool", "release"}}));
  EXPECT_THAT(workers[1].serve_labels, IsEmpty());
  EXPECT_EQ(workers[2].name, "signer");
  EXPECT_EQ(workers[2].labels, (Labels{{"pool", "release"}}));
}

TEST_F(CoordinatorTest,
       RequeuedUnlabelledTaskWaitsRatherThanGoToServeLabelWorker) {
  // The plain worker leaves while running `a`: `a` goes back to the queue
  // with the signer as the only worker, idle with free slots.
  Worker plain = Connect("plain", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  ASSERT_THAT(TaskIds(plain.conn->Take()), ElementsAre("a"));
  WorkerRegistration reg;
  reg.name = "signer";
  reg.slots = 4;
  reg.serve_labels = {{"pool", "release"}};
  Worker signer = Open(reg);
  coord_->Goodbye(plain.session);
  EXPECT_THAT(signer.conn->Take(), IsEmpty());
  EXPECT_EQ(StateOf(id, "a"), TaskState::kReady);
  Worker back = Connect("plain2", 1);
  EXPECT_THAT(TaskIds(back.conn->Take()), ElementsAre("a"));
}

TEST_F(CoordinatorTest, ServeLabelContradictingALabelIsRefused) {
  WorkerRegistration reg;
  reg.name = "confused";
  reg.slots = 1;
  reg.labels = {{"pool", "nightly"}};
  reg.serve_labels = {{"pool", "release"}};
  absl::StatusOr<SessionId> id =
      coord_->OpenSession(reg, std::make_shared<FakeConnection>());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(id.status().message()),
              HasSubstr("serve-label pool=release contradicts label "
                        "pool=nightly"));
  // The same value twice is fine.
  reg.labels = {{"pool", "release"}};
  EXPECT_TRUE(
      coord_->OpenSession(reg, std::make_shared<FakeConnection>()).ok());
}

// --- Failures and retries ---

TEST_F(CoordinatorTest, FailureSkipsDependentsAndRestOfGraphGoesOn) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"b"}),
            MakeTask("d"), MakeTask("e", {"d"})}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a"));
  EXPECT_EQ(coord_->Report(w.session, {Failed(got[0], 2, "boom")}), 0);

  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].state, TaskState::kFailed);
  EXPECT_EQ(v.tasks[1].state, TaskState::kSkipped);
  EXPECT_EQ(v.tasks[1].skipped_because, 0);
  EXPECT_EQ(v.tasks[2].state, TaskState::kSkipped);
  EXPECT_EQ(v.tasks[2].skipped_because, 0);
  EXPECT_EQ(v.record.state, GraphState::kRunning);
  ASSERT_THAT(v.attempts[0], SizeIs(1));
  EXPECT_EQ(v.attempts[0][0].state, AttemptState::kFailed);
  EXPECT_EQ(v.attempts[0][0].exit_code, 2);
  EXPECT_EQ(v.attempts[0][0].stderr_tail, "boom");
  EXPECT_EQ(v.attempts[0][0].error, "exit code 2");

  EXPECT_THAT(RunAll(w), ElementsAre("d", "e"));
  v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kFailed);
  EXPECT_EQ(v.counts.succeeded, 2);
  EXPECT_EQ(v.counts.failed, 1);
  EXPECT_EQ(v.counts.skipped, 2);
  EXPECT_THAT(v.attempts[1], IsEmpty());
}

TEST_F(CoordinatorTest, FailedAttemptIsRetriedUntilItSucceeds) {
  Worker w = Connect("w1", 1);
  TaskSpec flaky = MakeTask("flaky");
  flaky.max_attempts = 2;
  GraphId id = Submit(MakeGraph("g", {flaky, MakeTask("next", {"flaky"})}));
  std::vector<Assignment> first = w.conn->Take();
  ASSERT_THAT(TaskIds(first), ElementsAre("flaky"));
  EXPECT_EQ(coord_->Report(w.session, {Failed(first[0], 3)}), 0);
  std::vector<Assignment> second = w.conn->Take();
  ASSERT_THAT(TaskIds(second), ElementsAre("flaky"));
  EXPECT_NE(second[0].attempt_id, first[0].attempt_id);
  EXPECT_EQ(StateOf(id, "next"), TaskState::kPending);
  EXPECT_EQ(coord_->Report(w.session, {Succeeded(second[0])}), 0);
  EXPECT_THAT(RunAll(w), ElementsAre("next"));

  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  EXPECT_EQ(v.tasks[0].attempts, 2);
  EXPECT_EQ(v.tasks[0].failures, 1);
  ASSERT_THAT(v.attempts[0], SizeIs(2));
  EXPECT_EQ(v.attempts[0][0].number, 1);
  EXPECT_EQ(v.attempts[0][0].state, AttemptState::kFailed);
  EXPECT_EQ(v.attempts[0][0].exit_code, 3);
  EXPECT_EQ(v.attempts[0][1].number, 2);
  EXPECT_EQ(v.attempts[0][1].state, AttemptState::kSucceeded);

  GraphView last = View(id, /*all_attempts=*/false);
  ASSERT_THAT(last.attempts[0], SizeIs(1));
  EXPECT_EQ(last.attempts[0][0].number, 2);
}

TEST_F(CoordinatorTest, FailingEveryAttemptFailsTheTask) {
  Worker w = Connect("w1", 1);
  TaskSpec bad = MakeTask("bad");
  bad.max_attempts = 3;
  GraphId id = Submit(MakeGraph("g", {bad}));
  for (int i = 0; i < 3; ++i) {
    std::vector<Assignment> got = w.conn->Take();
    ASSERT_THAT(got, SizeIs(1)) << "attempt " << i + 1;
    EXPECT_EQ(coord_->Report(w.session, {Failed(got[0])}), 0);
  }
  EXPECT_THAT(w.conn->Take(), IsEmpty());
  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kFailed);
  EXPECT_EQ(v.tasks[0].failures, 3);
  EXPECT_THAT(v.attempts[0], SizeIs(3));
}

// --- Fencing ---

TEST_F(CoordinatorTest, ResultsNotOwnedBySessionAreFenced) {
  Worker w1 = Connect("w1", 1);
  Worker w2 = Connect("w2", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b")}));
  std::vector<Assignment> got1 = w1.conn->Take();
  std::vector<Assignment> got2 = w2.conn->Take();
  ASSERT_THAT(got1, SizeIs(1));
  ASSERT_THAT(got2, SizeIs(1));
  const GraphView before = View(id);

  // w2's attempt reported on w1's session.
  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(got2[0])}), 1);
  // An attempt id never handed out.
  Assignment unknown = got1[0];
  unknown.attempt_id = 987654;
  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(unknown)}), 1);
  // A session that does not exist.
  EXPECT_EQ(coord_->Report(424242, {Succeeded(got1[0])}), 1);
  GraphView after = View(id);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(after.tasks[i].state, TaskState::kRunning);
    EXPECT_EQ(after.tasks[i].current_attempt, before.tasks[i].current_attempt);
    ASSERT_THAT(after.attempts[i], SizeIs(1));
    EXPECT_EQ(after.attempts[i][0].state, AttemptState::kRunning);
  }

  // The real report, then a duplicate of it in a batch with a valid one.
  EXPECT_EQ(coord_->Report(w1.session, {Failed(got1[0], 7)}), 0);
  EXPECT_EQ(coord_->Report(w2.session, {Succeeded(got2[0]), Succeeded(got2[0])}),
            1);
  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(got1[0])}), 1);
  GraphView done = View(id);
  EXPECT_EQ(done.record.state, GraphState::kFailed);
  const std::string& first_task = got1[0].task_id;
  int first_index = first_task == "a" ? 0 : 1;
  EXPECT_EQ(done.tasks[first_index].state, TaskState::kFailed);
  ASSERT_THAT(done.attempts[first_index], SizeIs(1));
  EXPECT_EQ(done.attempts[first_index][0].exit_code, 7);
  EXPECT_EQ(done.tasks[1 - first_index].state, TaskState::kSucceeded);
  EXPECT_THAT(done.attempts[1 - first_index], SizeIs(1));
}

// --- Sessions ---

// A broken stream is not yet a lost worker: it may come back. Its attempts
// stay with it and nothing new goes to it; once the reconnect grace ran
// out (well before the lease) they are lost and run elsewhere.
TEST_F(CoordinatorTest, ClosedSessionKeepsAttemptsForTheGraceThenTasksMoveOn) {
  Worker w1 = Connect("w1", 3);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b")}));
  std::vector<Assignment> old = w1.conn->Take();
  ASSERT_THAT(old, SizeIs(2));

  clock_.Advance(absl::Seconds(1));
  coord_->CloseSession(w1.session);
  // w1 has a free slot, but a disconnected session takes no new task.
  GraphId other = Submit(MakeGraph("other", {MakeTask("c")}));
  EXPECT_THAT(w1.conn->Take(), IsEmpty());
  EXPECT_EQ(StateOf(other, "c"), TaskState::kReady);
  GraphView v = View(id);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(v.tasks[i].state, TaskState::kRunning);
    ASSERT_THAT(v.attempts[i], SizeIs(1));
    EXPECT_EQ(v.attempts[i][0].state, AttemptState::kRunning);
  }
  std::vector<WorkerView> workers = coord_->ListWorkers();
  ASSERT_THAT(workers, SizeIs(1));
  EXPECT_FALSE(workers[0].connected);
  EXPECT_EQ(workers[0].running, 2);

  Worker w2 = Connect("w2", 3);
  EXPECT_THAT(TaskIds(w2.conn->Take()), ElementsAre("c"));
  // Just short of the reconnect grace since the stream broke: still its
  // own.
  AdvanceAndTick(options_.reconnect_grace - absl::Milliseconds(1), {&w2});
  EXPECT_THAT(w2.conn->Take(), IsEmpty());
  EXPECT_EQ(View(id).tasks[0].state, TaskState::kRunning);

  // One tick past the grace, long before the lease: lost, and run by w2.
  AdvanceAndTick(absl::Milliseconds(2), {&w2});
  std::vector<Assignment> moved = w2.conn->Take();
  EXPECT_THAT(TaskIds(moved), UnorderedElementsAre("a", "b"));
  v = View(id);
  for (int i = 0; i < 2; ++i) {
    ASSERT_THAT(v.attempts[i], SizeIs(2));
    EXPECT_EQ(v.attempts[i][0].state, AttemptState::kLost);
    EXPECT_EQ(v.attempts[i][0].worker, "w1");
    EXPECT_EQ(v.attempts[i][0].finished_at_ms, clock_.NowMs());
    EXPECT_THAT(v.attempts[i][0].error, HasSubstr("w1"));
    EXPECT_EQ(v.attempts[i][1].state, AttemptState::kRunning);
    EXPECT_EQ(v.attempts[i][1].worker, "w2");
    EXPECT_EQ(v.attempts[i][1].number, 2);
    EXPECT_EQ(v.tasks[i].failures, 0) << "a lost attempt is not a failure";
    EXPECT_EQ(v.tasks[i].lost, 1);
  }
  workers = coord_->ListWorkers();
  ASSERT_THAT(workers, SizeIs(1));
  EXPECT_EQ(workers[0].name, "w2");
  EXPECT_FALSE(coord_->Heartbeat(w1.session));

  // Late results from the lost session are refused.
  EXPECT_EQ(coord_->Report(w1.session, {Succeeded(old[0]), Succeeded(old[1])}),
            2);
  for (const Assignment& a : moved) {
    EXPECT_EQ(coord_->Report(w2.session, {Succeeded(a)}), 0);
  }
  EXPECT_EQ(View(id).record.state, GraphState::kSucceeded);
  // Closing twice is harmless.
  coord_->CloseSession(w1.session);
}

TEST_F(CoordinatorTest, ReconnectUnderSameNameRequeuesOldAttemptsAtOnce) {
  Worker old = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  std::vector<Assignment> old_got = old.conn->Take();
  ASSERT_THAT(old_got, SizeIs(1));

  // The worker restarted: its new process holds nothing. No clock moves:
  // the old attempt is given up at once, not at the end of the lease.
  Worker fresh = Connect("w1", 1);
  EXPECT_NE(fresh.session, old.session);
  std::vector<Assignment> got = fresh.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a"));
  EXPECT_NE(got[0].attempt_id, old_got[0].attempt_id);
  EXPECT_THAT(old.conn->Take(), IsEmpty());
  // If the old process is somehow still there, its stream is ended.
  EXPECT_TRUE(old.conn->closed());
  EXPECT_FALSE(fresh.conn->closed());
  EXPECT_THAT(fresh.conn->cancels(), IsEmpty());
  EXPECT_FALSE(coord_->Heartbeat(old.session));
  GraphView v = View(id);
  ASSERT_THAT(v.attempts[0], SizeIs(2));
  EXPECT_EQ(v.attempts[0][0].state, AttemptState::kLost);
  EXPECT_THAT(v.attempts[0][0].error, HasSubstr("w1"));
  EXPECT_EQ(v.attempts[0][1].state, AttemptState::kRunning);
  EXPECT_EQ(v.attempts[0][1].session_id, fresh.session);
  EXPECT_EQ(v.tasks[0].failures, 0);

  // The old session's end and results must not disturb the new one.
  EXPECT_EQ(coord_->Report(old.session, {Succeeded(old_got[0])}), 1);
  coord_->CloseSession(old.session);
  std::vector<WorkerView> workers = coord_->ListWorkers();
  ASSERT_THAT(workers, SizeIs(1));
  EXPECT_EQ(workers[0].session_id, fresh.session);
  EXPECT_TRUE(workers[0].connected);
  EXPECT_EQ(workers[0].running, 1);
  EXPECT_EQ(coord_->Report(fresh.session, {Succeeded(got[0])}), 0);
  EXPECT_EQ(View(id).record.state, GraphState::kSucceeded);
}

TEST_F(CoordinatorTest, SessionsClosedDuringShutdownKeepTheirAttempts) {
  Worker w1 = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  std::vector<Assignment> got = w1.conn->Take();
  ASSERT_THAT(got, SizeIs(1));
  Worker w2 = Connect("w2", 1);
  coord_->BeginShutdown();
  coord_->CloseSession(w1.session);
  // Stopping the server ends every stream; that must not look like lost
  // workers.
  EXPECT_THAT(w2.conn->Take(), IsEmpty());
  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].state, TaskState::kRunning);
  ASSERT_THAT(v.attempts[0], SizeIs(1));
  EXPECT_EQ(v.attempts[0][0].state, AttemptState::kRunning);
  EXPECT_EQ(v.attempts[0][0].id, got[0].attempt_id);
}

TEST_F(CoordinatorTest, ListWorkersSortedByNameWithLoad) {
  Worker b = Connect("beta", 3, {{"os", "linux"}});
  clock_.Advance(absl::Seconds(5));
  Worker a = Connect("alpha", 2);
  Submit(MakeGraph("g", {MakeTask("x")}));
  std::vector<WorkerView> workers = coord_->ListWorkers();
  ASSERT_THAT(workers, SizeIs(2));
  EXPECT_EQ(workers[0].name, "alpha");
  EXPECT_EQ(workers[0].session_id, a.session);
  EXPECT_EQ(workers[0].slots, 2);
  EXPECT_EQ(workers[0].connected_at_ms, clock_.NowMs());
  EXPECT_EQ(workers[1].name, "beta");
  EXPECT_EQ(workers[1].session_id, b.session);
  EXPECT_EQ(workers[1].slots, 3);
  EXPECT_EQ(workers[1].labels, (Labels{{"os", "linux"}}));
  EXPECT_EQ(workers[1].connected_at_ms, clock_.NowMs() - 5000);
  EXPECT_EQ(workers[0].running + workers[1].running, 1);
}

// --- Cancel ---

TEST_F(CoordinatorTest, CancelWholeGraph) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph(
      "g", {MakeTask("running"), MakeTask("ready"), MakeTask("pending", {"running"})}));
  GraphId other = Submit(MakeGraph("other", {MakeTask("z")}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("running"));

  ASSERT_OK_AND_ASSIGN(int64_t cancelled, coord_->Cancel(id, {}));
  // Every unfinished task is cancelled, the pending one too (it is not
  // merely skipped because its dep was cancelled).
  EXPECT_EQ(cancelled, 3);
  EXPECT_THAT(w.conn->cancels(), ElementsAre(got[0].attempt_id));
  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kCancelled);
  EXPECT_TRUE(v.record.cancel_requested);
  EXPECT_EQ(v.tasks[0].state, TaskState::kCancelled);
  EXPECT_EQ(v.tasks[1].state, TaskState::kCancelled);
  EXPECT_EQ(v.tasks[2].state, TaskState::kCancelled);
  EXPECT_EQ(v.tasks[2].skipped_because, -1);
  ASSERT_THAT(v.attempts[0], SizeIs(1));
  EXPECT_EQ(v.attempts[0][0].state, AttemptState::kCancelled);
  EXPECT_THAT(v.attempts[1], IsEmpty());

  // The slot freed by the cancel takes the other graph's task.
  EXPECT_THAT(TaskIds(w.conn->Take()), ElementsAre("z"));
  EXPECT_EQ(StateOf(other, "z"), TaskState::kRunning);
  // The cancelled attempt's late result is refused.
  EXPECT_EQ(coord_->Report(w.session, {Succeeded(got[0])}), 1);
  EXPECT_EQ(View(id).record.state, GraphState::kCancelled);

  // Cancelling a finished graph does nothing.
  ASSERT_OK_AND_ASSIGN(int64_t again, coord_->Cancel(id, {}));
  EXPECT_EQ(again, 0);
}

// Cancelling a whole graph must not depend on the order its tasks were
// declared in: the chain a <- b <- c gives the same outcome either way.
TEST_F(CoordinatorTest, CancelWholeGraphOutcomeIndependentOfDeclarationOrder) {
  GraphId forward = Submit(MakeGraph(
      "forward", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"b"})}));
  GraphId backward = Submit(MakeGraph(
      "backward", {MakeTask("c", {"b"}), MakeTask("b", {"a"}), MakeTask("a")}));
  ASSERT_OK_AND_ASSIGN(int64_t n_forward, coord_->Cancel(forward, {}));
  ASSERT_OK_AND_ASSIGN(int64_t n_backward, coord_->Cancel(backward, {}));
  EXPECT_EQ(n_forward, 3);
  EXPECT_EQ(n_backward, 3);
  for (const char* t : {"a", "b", "c"}) {
    EXPECT_EQ(StateOf(forward, t), TaskState::kCancelled) << t;
    EXPECT_EQ(StateOf(backward, t), TaskState::kCancelled) << t;
  }
}

TEST_F(CoordinatorTest, CancelOneTaskSkipsOnlyItsDependents) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"b"}),
            MakeTask("d"), MakeTask("e", {"d"})}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a"));
  ASSERT_OK_AND_ASSIGN(int64_t cancelled, coord_->Cancel(id, {"a"}));
  EXPECT_EQ(cancelled, 1);
  EXPECT_THAT(w.conn->cancels(), ElementsAre(got[0].attempt_id));
  GraphView v = View(id);
  EXPECT_EQ(v.tasks[0].state, TaskState::kCancelled);
  EXPECT_EQ(v.tasks[1].state, TaskState::kSkipped);
  EXPECT_EQ(v.tasks[1].skipped_because, 0);
  EXPECT_EQ(v.tasks[2].state, TaskState::kSkipped);
  EXPECT_EQ(v.tasks[2].skipped_because, 0);
  EXPECT_EQ(v.record.state, GraphState::kRunning);

  // The rest of the graph goes on; the slot was freed by the cancel.
  EXPECT_THAT(RunAll(w), ElementsAre("d", "e"));
  v = View(id);
  EXPECT_EQ(v.tasks[3].state, TaskState::kSucceeded);
  EXPECT_EQ(v.tasks[4].state, TaskState::kSucceeded);
  EXPECT_EQ(v.record.state, GraphState::kCancelled);
}

TEST_F(CoordinatorTest, CancelUnknownTaskOrGraphIsNotFound) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b")}));
  absl::StatusOr<int64_t> r = coord_->Cancel(id, {"b", "nope"});
  EXPECT_CODE(r, absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("nope"));
  EXPECT_CODE(coord_->Cancel(id + 100, {}), absl::StatusCode::kNotFound);
  // Nothing was cancelled, not even the known task named with it.
  EXPECT_THAT(w.conn->cancels(), IsEmpty());
  EXPECT_EQ(StateOf(id, "b"), TaskState::kReady);
  EXPECT_THAT(RunAll(w), ElementsAre("a", "b"));
  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  EXPECT_FALSE(v.record.cancel_requested);
}

TEST_F(CoordinatorTest, CancelUnknownTaskOfFinishedGraphIsNotFound) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  RunAll(w);
  ASSERT_EQ(View(id).record.state, GraphState::kSucceeded);
  EXPECT_CODE(coord_->Cancel(id, {"nope"}), absl::StatusCode::kNotFound);
}

// --- Submit ---

TEST_F(CoordinatorTest, SubmitWithSameRequestIdIsIdempotent) {
  absl::StatusOr<SubmitResult> first =
      coord_->Submit(MakeGraph("g", {MakeTask("a")}), "req-1");
  ASSERT_OK(first);
  EXPECT_TRUE(first->created);
  absl::StatusOr<SubmitResult> second =
      coord_->Submit(MakeGraph("other", {MakeTask("x"), MakeTask("y")}), "req-1");
  ASSERT_OK(second);
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->graph_id, first->graph_id);
  absl::StatusOr<SubmitResult> third =
      coord_->Submit(MakeGraph("g", {MakeTask("a")}), "req-2");
  ASSERT_OK(third);
  EXPECT_TRUE(third->created);
  EXPECT_NE(third->graph_id, first->graph_id);

  // Still idempotent after a restart.
  ASSERT_NO_FATAL_FAILURE(Restart());
  absl::StatusOr<SubmitResult> after =
      coord_->Submit(MakeGraph("g", {MakeTask("a")}), "req-1");
  ASSERT_OK(after);
  EXPECT_FALSE(after->created);
  EXPECT_EQ(after->graph_id, first->graph_id);

  ASSERT_OK_AND_ASSIGN(auto graphs, coord_->ListGraphs(10));
  EXPECT_THAT(graphs, SizeIs(2));
  // Only one copy of the graph was ever scheduled.
  Worker w = Connect("w1", 4);
  EXPECT_THAT(TaskIds(w.conn->Take()), UnorderedElementsAre("a", "a"));
}

TEST_F(CoordinatorTest, InvalidGraphsAreRefusedAndNothingIsStored) {
  Worker w = Connect("w1", 4);
  GraphSpec empty = MakeGraph("empty", {});
  GraphSpec cycle = MakeGraph("cycle", {MakeTask("x", {"y"}), MakeTask("y", {"x"})});
  GraphSpec unknown = MakeGraph("unknown", {MakeTask("link", {"compil"})});
  GraphSpec duplicate = MakeGraph("dup", {MakeTask("a"), MakeTask("a")});
  GraphSpec no_command = MakeGraph("nocmd", {MakeTask("a")});
  no_command.tasks[0].command.clear();
  GraphSpec bad_attempts = MakeGraph("attempts", {MakeTask("a")});
  bad_attempts.tasks[0].max_attempts = -1;

  struct Case {
    GraphSpec spec;
    std::string message_part;
  };
  std::vector<Case> cases = {
      {empty, "no tasks"},
      {cycle, "dependency cycle: x -> y -> x"},
      {unknown, "\"link\" depends on unknown task \"compil\""},
      {duplicate, "duplicate task id \"a\""},
      {no_command, "\"a\" has an empty command"},
      {bad_attempts, "max_attempts"},
  };
  for (Case& c : cases) {
    absl::StatusOr<SubmitResult> r = coord_->Submit(c.spec, "req-bad");
    EXPECT_CODE(r, absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.message_part));
  }
  ASSERT_OK_AND_ASSIGN(auto graphs, coord_->ListGraphs(10));
  EXPECT_THAT(graphs, IsEmpty());
  EXPECT_THAT(w.conn->history(), IsEmpty());
  // The refused request id was not used up.
  absl::StatusOr<SubmitResult> ok =
      coord_->Submit(MakeGraph("g", {MakeTask("a")}), "req-bad");
  ASSERT_OK(ok);
  EXPECT_TRUE(ok->created);
}

TEST_F(CoordinatorTest, GetGraphOfUnknownIdIsNotFound) {
  EXPECT_CODE(coord_->GetGraph(12345, true), absl::StatusCode::kNotFound);
}

// --- Recovery ---

TEST_F(CoordinatorTest, RestartKeepsSucceededTasksAndLosesUnclaimedAttempts) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"b"})}));
  GraphId done = Submit(MakeGraph("done", {MakeTask("x")}));
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("a"));
  coord_->Report(w.session, {Succeeded(got[0])});
  got = w.conn->Take();
  ASSERT_THAT(TaskIds(got), ElementsAre("b"));
  const AttemptId b_attempt = got[0].attempt_id;
  // "done" is queued behind b on w1; a second worker runs it to the end
  // before the restart.
  Worker w2 = Connect("w2", 1);
  std::vector<Assignment> x = w2.conn->Take();
  ASSERT_THAT(TaskIds(x), ElementsAre("x"));
  coord_->Report(w2.session, {Succeeded(x[0])});
  ASSERT_EQ(View(done).record.state, GraphState::kSucceeded);

  clock_.Advance(absl::Minutes(1));
  ASSERT_NO_FATAL_FAILURE(Restart());

  // b's attempt waits for w1 to come back for it.
  GraphView v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kRunning);
  EXPECT_EQ(v.tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(v.tasks[1].state, TaskState::kRunning);
  EXPECT_EQ(v.tasks[1].current_attempt, b_attempt);
  EXPECT_EQ(v.tasks[2].state, TaskState::kPending);
  ASSERT_THAT(v.attempts[1], SizeIs(1));
  EXPECT_EQ(v.attempts[1][0].state, AttemptState::kRunning);

  // w1 never comes back; another worker takes b once the grace is over.
  Worker after = Connect("w3", 4);
  EXPECT_THAT(after.conn->Take(), IsEmpty());
  AdvanceAndTick(options_.lease_timeout + absl::Milliseconds(200), {&after});
  std::vector<Assignment> again = after.conn->Take();
  ASSERT_THAT(TaskIds(again), ElementsAre("b")) << "a must not run again";
  EXPECT_GT(again[0].attempt_id, b_attempt) << "attempt ids are never reused";
  v = View(id);
  ASSERT_THAT(v.attempts[1], SizeIs(2));
  EXPECT_EQ(v.attempts[1][0].id, b_attempt);
  EXPECT_EQ(v.attempts[1][0].state, AttemptState::kLost);
  EXPECT_EQ(v.attempts[1][0].finished_at_ms, clock_.NowMs());
  EXPECT_THAT(v.attempts[1][0].error, HasSubstr("w1"));
  EXPECT_EQ(v.tasks[1].failures, 0);
  // The old attempt's result, reported to the new daemon, is refused.
  EXPECT_EQ(coord_->Report(after.session, {Succeeded(got[0])}), 1);
  EXPECT_EQ(coord_->Report(after.session, {Succeeded(again[0])}), 0);
  EXPECT_THAT(RunAll(after), ElementsAre("c"));

  v = View(id);
  EXPECT_EQ(v.record.state, GraphState::kSucceeded);
  EXPECT_THAT(v.attempts[0], SizeIs(1));
  ASSERT_THAT(v.attempts[1], SizeIs(2));
  EXPECT_EQ(v.attempts[1][1].number, 2);
  EXPECT_EQ(v.attempts[1][1].state, AttemptState::kSucceeded);
  EXPECT_EQ(View(done).record.state, GraphState::kSucceeded);
  EXPECT_THAT(View(done).attempts[0], SizeIs(1));
}

TEST_F(CoordinatorTest, RestartWithoutWorkKeepsState) {
  Submit(MakeGraph("g", {MakeTask("a", {}, 3), MakeTask("b", {}, 1)}));
  ASSERT_NO_FATAL_FAILURE(Restart());
  ASSERT_NO_FATAL_FAILURE(Restart());
  Worker w = Connect("w1", 1);
  // Ready tasks rebuilt into the queue with their priorities.
  EXPECT_THAT(RunAll(w), ElementsAre("a", "b"));
}

// --- Watch ---

TEST_F(CoordinatorTest, WatchGetsSnapshotThenChangesInOrder) {
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"})}));
  auto watcher = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(id, watcher));
  // The snapshot: the graph, then each task as it is.
  EXPECT_THAT(Describe(watcher->events()),
              ElementsAre("GRAPH:running", "a:ready", "b:pending"));
  ASSERT_EQ(watcher->batch_info().size(), 1u);
  EXPECT_TRUE(watcher->batch_info()[0].compacted);
  EXPECT_EQ(watcher->events()[0].graph_name, "g");

  Worker w = Connect("w1", 1);
  std::vector<Assignment> got = w.conn->Take();
  coord_->Report(w.session, {Succeeded(got[0])});
  got = w.conn->Take();
  coord_->Report(w.session, {Failed(got[0], 9)});

  std::vector<TaskEvent> events = watcher->events();
  ASSERT_THAT(Describe(events),
              ElementsAre("GRAPH:running", "a:ready", "b:pending", "a:running",
                          "a:succeeded", "b:ready", "b:running", "b:failed",
                          "GRAPH:failed"));
  ExpectInSequence(*watcher);
  for (const TaskEvent& e : events) EXPECT_EQ(e.graph_id, id);
  // Changes carry their attempt.
  EXPECT_EQ(events[3].worker, "w1");
  EXPECT_EQ(events[3].attempt_state, AttemptState::kRunning);
  EXPECT_EQ(events[3].attempt_number, 1);
  EXPECT_EQ(events[7].attempt_id, got[0].attempt_id);
  EXPECT_EQ(events[7].attempt_state, AttemptState::kFailed);
  EXPECT_EQ(events[7].exit_code, 9);
  EXPECT_EQ(events[7].counts.failed, 1);
  EXPECT_EQ(events[8].graph_state, GraphState::kFailed);
  EXPECT_TRUE(events[8].graph_finished);
  EXPECT_EQ(events[8].counts.succeeded, 1);
  EXPECT_EQ(events[8].time_ms, clock_.NowMs());
  EXPECT_TRUE(watcher->batch_info().back().end);
  EXPECT_EQ(watcher->batch_info().back().cursor, events[8].sequence);
}

TEST_F(CoordinatorTest, WatchEventsNameSkipCause) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph(
      "g", {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"b"})}));
  auto watcher = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(id, watcher));
  std::vector<Assignment> got = w.conn->Take();
  coord_->Report(w.session, {Failed(got[0])});
  std::vector<TaskEvent> events = watcher->events();
  ASSERT_THAT(Describe(events),
              ElementsAre("GRAPH:running", "a:running", "b:pending",
                          "c:pending", "a:failed", "b:skipped", "c:skipped",
                          "GRAPH:failed"));
  EXPECT_EQ(events[1].attempt_id, got[0].attempt_id);  // snapshot of running
  EXPECT_EQ(events[1].worker, "w1");
  EXPECT_EQ(events[5].skipped_because, "a");
  EXPECT_EQ(events[6].skipped_because, "a");
}

TEST_F(CoordinatorTest, WatchOfFinishedGraphGivesSnapshotEndingFinished) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b")}));
  RunAll(w);
  auto watcher = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(id, watcher));
  std::vector<TaskEvent> events = watcher->events();
  ASSERT_THAT(Describe(events),
              ElementsAre("a:succeeded", "b:succeeded", "GRAPH:succeeded"));
  EXPECT_TRUE(events.back().graph_finished);
  EXPECT_EQ(events.back().counts.succeeded, 2);
}

TEST_F(CoordinatorTest, WatchOfUnknownGraphIsNotFound) {
  auto watcher = std::make_shared<FakeWatcher>();
  EXPECT_CODE(coord_->Watch(777, watcher), absl::StatusCode::kNotFound);
  EXPECT_THAT(watcher->events(), IsEmpty());
}

TEST_F(CoordinatorTest, UnwatchStopsEvents) {
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  auto watcher = std::make_shared<FakeWatcher>();
  ASSERT_OK_AND_ASSIGN(uint64_t watch_id, coord_->Watch(id, watcher));
  auto other = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(id, other));
  coord_->Unwatch(watch_id);
  Worker w = Connect("w1", 1);
  RunAll(w);
  EXPECT_THAT(Describe(watcher->events()),
              ElementsAre("GRAPH:running", "a:ready"));
  EXPECT_TRUE(other->finished());
}

// --- Summaries ---

TEST_F(CoordinatorTest, SummaryOfARunningAndOfAFinishedGraph) {
  Worker w = Connect("w1", 1);
  GraphId id = Submit(MakeGraph("sum", {MakeTask("a"), MakeTask("b", {"a"})}));
  ASSERT_OK_AND_ASSIGN(GraphSummaryView running, coord_->GetGraphSummary(id));
  EXPECT_EQ(running.record.name, "sum");
  EXPECT_EQ(running.record.state, GraphState::kRunning);
  EXPECT_EQ(running.counts.running, 1);
  EXPECT_EQ(running.counts.pending, 1);
  RunAll(w);
  ASSERT_OK_AND_ASSIGN(GraphSummaryView done, coord_->GetGraphSummary(id));
  EXPECT_EQ(done.record.state, GraphState::kSucceeded);
  EXPECT_EQ(done.counts.succeeded, 2);
  EXPECT_EQ(done.counts.total(), 2);
  EXPECT_CODE(coord_->GetGraphSummary(777), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace vitte::task
