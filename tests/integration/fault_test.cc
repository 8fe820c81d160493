// Fault tolerance, end to end: workers frozen, killed, restarted or drained,
// the daemon killed with SIGKILL and restarted, a network connection cut,
// tasks that time out, fail and retry, or kill every worker they touch.
//
// Each test kills real processes and checks what `vitte-task status
// --attempts` and the tasks' own side effects (files they append to) say
// afterwards. Time bounds are loose correctness bounds (a lost worker is
// noticed after its lease, not before and not much later), not performance
// assertions.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/cuttable_proxy.h"
#include "tests/integration/harness.h"
#include "vitte/task/v1/task.grpc.pb.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// The harness's default timings (see IntegrationTest::SetUp).
constexpr int64_t kLeaseMs = kHarnessLeaseMs;
constexpr int64_t kHeartbeatMs = kHarnessHeartbeatMs;

// A task whose first attempt blocks (it writes its pid to `pid_file` and
// sleeps a minute) and whose later attempts succeed at once. Every attempt
// appends its id to `attempts`, so the file tells how many really started.
v1::TaskSpec FirstAttemptHangs(const std::string& id,
                               const std::string& pid_file) {
  return ShellTask(
      id, absl::StrCat("echo \"$VITTE_ATTEMPT_ID\" >> attempts; "
                       "if [ $(wc -l < attempts) -ge 2 ]; then exit 0; fi; "
                       "echo $$ > ",
                       pid_file, "; exec sleep 60"));
}

// A task that logs "start ATTEMPT" and waits (at most 30 s) for the file
// release.ATTEMPT, then logs "end ATTEMPT" and succeeds: the test decides
// when each attempt finishes.
v1::TaskSpec HeldUntilReleased(const std::string& id) {
  return ShellTask(
      id,
      "a=$VITTE_ATTEMPT_ID; echo \"start $a\" >> log; i=0; "
      "while [ ! -f release.$a ] && [ $i -lt 600 ]; do sleep 0.05; "
      "i=$((i+1)); done; echo \"end $a\" >> log");
}

bool Contains(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// Kills the process whose pid a task wrote to `pid_file` (a task left
// behind by a worker that was SIGKILLed, as a machine crash would).
void KillTaskProcess(const std::string& pid_file) {
  std::optional<pid_t> pid = ReadPid(pid_file);
  if (pid.has_value() && ProcessAlive(*pid)) kill(*pid, SIGKILL);
}

class FaultTest : public IntegrationTest {
 protected:
  // Runs a task that fails twice, then succeeds on its third and last
  // attempt, and reads back its record.
  void RunTaskFailingTwice(const std::string& graph, v1::Task& task) {
    v1::TaskSpec flaky =
        ShellTask("flaky", "echo try >> tries; [ $(wc -l < tries) -ge 3 ]");
    flaky.set_max_attempts(3);
    CliResult r = Cli(
        {"submit", WriteDag("f.json", Graph(graph, {flaky})), "--wait"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    absl::StatusOr<v1::Graph> g = GetGraph(FirstLine(r.out));
    ASSERT_TRUE(g.ok()) << g.status();
    const v1::Task* t = FindTask(*g, "flaky");
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->attempts_size(), 3) << g->DebugString();
    task = *t;
  }

  // Polls the graph until task `task_id` has `attempts` attempts and the
  // last one runs on `worker`; fails the test otherwise.
  v1::Graph WaitForAttemptOn(const std::string& graph_id,
                             const std::string& task_id, int attempts,
                             const std::string& worker,
                             absl::Duration timeout = absl::Seconds(20)) {
    v1::Graph g = PollGraph(graph_id, timeout, [&](const v1::Graph& g) {
      const v1::Task* t = FindTask(g, task_id);
      return t != nullptr && t->attempts_size() == attempts &&
             t->state() == v1::TASK_STATE_RUNNING &&
             LastAttempt(*t).state() == v1::ATTEMPT_STATE_RUNNING &&
             LastAttempt(*t).worker() == worker;
    });
    const v1::Task* t = FindTask(g, task_id);
    EXPECT_TRUE(t != nullptr && t->attempts_size() == attempts &&
                LastAttempt(*t).worker() == worker &&
                LastAttempt(*t).state() == v1::ATTEMPT_STATE_RUNNING)
        << "task " << task_id << " has no attempt #" << attempts
        << " running on " << worker << ":\n"
        << g.DebugString();
    return g;
  }

  v1::Graph WaitForGraphEnd(const std::string& graph_id,
                            absl::Duration timeout = absl::Seconds(20)) {
    return PollGraph(graph_id, timeout, [](const v1::Graph& g) {
      return g.summary().state() != v1::GRAPH_STATE_RUNNING &&
             g.summary().state() != v1::GRAPH_STATE_UNSPECIFIED;
    });
  }

  void ExpectDatabaseSound() {
    absl::StatusOr<std::string> check = SqliteIntegrityCheck(db_path());
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_EQ(*check, "ok");
  }
};

// A healthy worker keeps its session however short the lease: its
// heartbeats follow the daemon's --heartbeat-interval from the start of
// every session.
TEST_F(FaultTest, FreshSessionOutlivesAShortLease) {
  // Regression: the first heartbeat of a session used to wait for the
  // worker's built-in 2 s interval, so a lease under 2 s lost every new
  // session.
  SetTaskdFlag("lease-timeout", "1s");
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  // Longer than the lease: only heartbeats keep the session alive.
  CliResult r = Cli(
      {"submit",
       WriteDag("t.json", Graph("short-lease", {ShellTask("t", "sleep 2.5")})),
       "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  absl::StatusOr<v1::Graph> g = GetGraph(FirstLine(r.out));
  ASSERT_TRUE(g.ok()) << g.status();
  const v1::Task* t = FindTask(*g, "t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->attempts_size(), 1) << g->DebugString();
  EXPECT_EQ(LastAttempt(*t).state(), v1::ATTEMPT_STATE_SUCCEEDED);
  EXPECT_THAT(coordinator().Stderr(), Not(HasSubstr("sent nothing for")));
}

// SIGSTOP freezes a worker with its stream open: only the lease can tell.
// Its task must move to the other worker after the lease, not before and
// not much later.
TEST_F(FaultTest, LeaseExpiryRequeuesTaskOfFrozenWorker) {
  KillAtTearDown(Path("first.pid"));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_NO_FATAL_FAILURE(StartWorker("w1", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1"}));
  const std::string id = Submit(WriteDag(
      "t.json", Graph("lease", {FirstAttemptHangs("t", "first.pid")})));
  ASSERT_FALSE(id.empty());
  ASSERT_NO_FATAL_FAILURE(WaitForAttemptOn(id, "t", 1, "w1"));
  ASSERT_NO_FATAL_FAILURE(StartWorker("w2", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1", "w2"}));

  const int64_t frozen_at = NowMs();
  ASSERT_TRUE(worker("w1").Signal(SIGSTOP).ok());
  v1::Graph g = PollGraph(id, absl::Seconds(20), [](const v1::Graph& g) {
    return g.summary().state() == v1::GRAPH_STATE_SUCCEEDED;
  });
  ASSERT_TRUE(worker("w1").Signal(SIGCONT).ok());
  ASSERT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();
  const v1::Task* t = FindTask(g, "t");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->attempts_size(), 2) << g.DebugString();
  const v1::Attempt& lost = t->attempts(0);
  const v1::Attempt& second = t->attempts(1);
  EXPECT_EQ(lost.state(), v1::ATTEMPT_STATE_LOST);
  EXPECT_EQ(lost.worker(), "w1");
  EXPECT_THAT(lost.error(), HasSubstr("sent nothing for"));
  EXPECT_EQ(second.state(), v1::ATTEMPT_STATE_SUCCEEDED);
  EXPECT_EQ(second.worker(), "w2");
  // Lost after the lease (minus the heartbeat that may have been in
  // flight, and some slack), re-queued within lease + heartbeat (+ slack
  // for a loaded machine).
  EXPECT_GE(lost.finished_at_ms() - frozen_at, kLeaseMs / 2)
      << "the frozen worker was declared lost before its lease ran out";
  EXPECT_LT(second.started_at_ms() - frozen_at, kLeaseMs + kHeartbeatMs + 3000)
      << "the task of the frozen worker waited too long to move";
  EXPECT_EQ(ReadLines(Path("attempts")).size(), 2u);
}

// After SIGCONT, the frozen worker's attempt has finished and it reports
// it (or lists it when it registers again): the result is refused, the
// attempt stays lost, and the current attempt on the other worker decides
// the task.
TEST_F(FaultTest, FrozenWorkersStaleResultIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_NO_FATAL_FAILURE(StartWorker("w1", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1"}));
  const std::string id =
      Submit(WriteDag("t.json", Graph("stale", {HeldUntilReleased("t")})));
  ASSERT_FALSE(id.empty());
  v1::Graph g = WaitForAttemptOn(id, "t", 1, "w1");
  const uint64_t first = LastAttempt(*FindTask(g, "t")).attempt_id();
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return Contains(ReadLines(Path("log")), absl::StrCat("start ", first));
  }));
  ASSERT_NO_FATAL_FAILURE(StartWorker("w2", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1", "w2"}));
  const uint64_t w1_session = SessionOf("w1");
  ASSERT_NE(w1_session, 0u);

  ASSERT_TRUE(worker("w1").Signal(SIGSTOP).ok());
  g = WaitForAttemptOn(id, "t", 2, "w2");
  const v1::Task* t = FindTask(g, "t");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->attempts_size(), 2);
  const v1::Attempt lost = t->attempts(0);
  const uint64_t second = t->attempts(1).attempt_id();
  ASSERT_EQ(lost.state(), v1::ATTEMPT_STATE_LOST);
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return Contains(ReadLines(Path("log")), absl::StrCat("start ", second));
  }));

  // The stale attempt's process (not frozen: it has its own process group)
  // finishes while its worker is stopped, then the worker wakes up.
  WriteFileOrFail(Path(absl::StrCat("release.", first)), "");
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return Contains(ReadLines(Path("log")), absl::StrCat("end ", first));
  }));
  ASSERT_TRUE(worker("w1").Signal(SIGCONT).ok());
  // The woken worker finds its stream closed, registers again listing the
  // attempt, and then talks on its new session for a few heartbeats: by
  // then whatever it had to say about the stale attempt has been heard.
  ASSERT_NE(WaitForNewSession("w1", w1_session), 0u)
      << worker("w1").LogsForDiagnosis();
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    absl::StatusOr<v1::ListWorkersResponse> workers = ListWorkers();
    if (!workers.ok()) return false;
    for (const v1::WorkerInfo& w : workers->workers()) {
      if (w.name() == "w1" && w.session_id() != w1_session &&
          w.last_seen_ms() - w.connected_at_ms() >= 5 * kHeartbeatMs) {
        return true;
      }
    }
    return false;
  }));

  // Nothing changed: the task still runs its second attempt.
  absl::StatusOr<v1::Graph> now = GetGraph(id);
  ASSERT_TRUE(now.ok()) << now.status();
  t = FindTask(*now, "t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->state(), v1::TASK_STATE_RUNNING) << now->DebugString();
  ASSERT_EQ(t->attempts_size(), 2) << now->DebugString();
  EXPECT_EQ(t->attempts(0).SerializeAsString(), lost.SerializeAsString())
      << "the stale result changed the lost attempt:\n"
      << t->attempts(0).DebugString();
  EXPECT_EQ(t->attempts(1).state(), v1::ATTEMPT_STATE_RUNNING);

  WriteFileOrFail(Path(absl::StrCat("release.", second)), "");
  g = WaitForGraphEnd(id);
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();
  t = FindTask(g, "t");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->attempts_size(), 2) << g.DebugString();
  EXPECT_EQ(t->attempts(0).SerializeAsString(), lost.SerializeAsString());
  EXPECT_EQ(t->attempts(1).state(), v1::ATTEMPT_STATE_SUCCEEDED);
  EXPECT_EQ(t->attempts(1).worker(), "w2");
  EXPECT_EQ(g.summary().counts().succeeded(), 1);
  EXPECT_THAT(
      ReadLines(Path("log")),
      ElementsAre(absl::StrCat("start ", first), absl::StrCat("start ", second),
                  absl::StrCat("end ", first), absl::StrCat("end ", second)));
}

// A worker that crashes and comes back under its name holds nothing: its
// old attempts are re-queued at once, not after the (here long) lease.
TEST_F(FaultTest, WorkerRestartedUnderSameNameRequeuesAtOnce) {
  SetTaskdFlag("lease-timeout", "30s");
  KillAtTearDown(Path("first.pid"));
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string id = Submit(WriteDag(
      "t.json", Graph("restart", {FirstAttemptHangs("t", "first.pid")})));
  ASSERT_FALSE(id.empty());
  ASSERT_NO_FATAL_FAILURE(WaitForAttemptOn(id, "t", 1, "w1"));
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return ReadPid(Path("first.pid")).has_value();
  }));

  const absl::Time killed_at = absl::Now();
  ASSERT_NO_FATAL_FAILURE(KillWorker("w1"));
  KillTaskProcess(Path("first.pid"));
  ASSERT_NO_FATAL_FAILURE(StartWorker("w1", 1));
  v1::Graph g = WaitForGraphEnd(id, absl::Seconds(25));
  const absl::Duration elapsed = absl::Now() - killed_at;

  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();
  EXPECT_LT(elapsed, absl::Seconds(10))
      << "the restarted worker's old attempt waited for the 30 s lease";
  const v1::Task* t = FindTask(g, "t");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->attempts_size(), 2) << g.DebugString();
  EXPECT_EQ(t->attempts(0).state(), v1::ATTEMPT_STATE_LOST);
  EXPECT_THAT(t->attempts(0).error(), HasSubstr("came back without it"));
  EXPECT_EQ(t->attempts(1).state(), v1::ATTEMPT_STATE_SUCCEEDED);
  EXPECT_EQ(t->attempts(1).worker(), "w1");
}

// A worker killed for good: its broken stream keeps the attempt for the
// reconnect grace (the daemon's default, 500 ms), not for the whole lease;
// then the task runs on another worker.
TEST_F(FaultTest, KilledWorkersTaskRunsElsewhereAfterTheReconnectGrace) {
  constexpr int64_t kGraceMs = 500;
  SetTaskdFlag("lease-timeout", "30s");
  KillAtTearDown(Path("first.pid"));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_NO_FATAL_FAILURE(StartWorker("w1", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1"}));
  const std::string id = Submit(
      WriteDag("t.json", Graph("kill", {FirstAttemptHangs("t", "first.pid")})));
  ASSERT_FALSE(id.empty());
  ASSERT_NO_FATAL_FAILURE(WaitForAttemptOn(id, "t", 1, "w1"));
  ASSERT_NO_FATAL_FAILURE(StartWorker("w2", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1", "w2"}));

  const int64_t killed_at = NowMs();
  ASSERT_NO_FATAL_FAILURE(KillWorker("w1"));
  v1::Graph g = WaitForGraphEnd(id);
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();
  const v1::Task* t = FindTask(g, "t");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->attempts_size(), 2) << g.DebugString();
  const v1::Attempt& lost = t->attempts(0);
  EXPECT_EQ(lost.state(), v1::ATTEMPT_STATE_LOST);
  EXPECT_THAT(lost.error(), HasSubstr("did not come back within"));
  EXPECT_GE(lost.finished_at_ms() - killed_at, kGraceMs / 2)
      << "a broken stream lost its attempt before the grace ran out";
  // Far below the 30 s lease; the slack is for a loaded machine.
  EXPECT_LT(t->attempts(1).started_at_ms() - killed_at, kGraceMs + 5000);
  EXPECT_EQ(t->attempts(1).state(), v1::ATTEMPT_STATE_SUCCEEDED);
  EXPECT_EQ(t->attempts(1).worker(), "w2");
  // The dead worker's session is gone.
  absl::StatusOr<v1::ListWorkersResponse> workers = ListWorkers();
  ASSERT_TRUE(workers.ok()) << workers.status();
  for (const v1::WorkerInfo& w : workers->workers()) {
    EXPECT_NE(w.name(), "w1") << workers->DebugString();
  }
}

// kill -9 of the daemon while a task runs: restarted on the same database
// and port, the daemon lets the worker (which kept running the task and
// reconnects by itself) claim the attempt. The task runs once.
TEST_F(FaultTest, CoordinatorKilledWhileTaskRunsAdoptsTheAttempt) {
  // Long enough that the worker's reconnection cannot outlast it (it takes
  // up to ~15 s, see WorkerReconnectsPromptlyAfterDaemonRestart): if the
  // attempt were not adopted, it would be lost and run again.
  SetTaskdFlag("lease-timeout", "30s");
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string id = Submit(WriteDag(
      "t.json",
      Graph("adopt", {ShellTask("t",
                                "echo \"$VITTE_TASK_ID $VITTE_ATTEMPT_ID\" >> "
                                "log; sleep 1.5")})));
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(PollUntil(absl::Seconds(20),
                        [&] { return ReadLines(Path("log")).size() == 1; }));
  const pid_t worker_pid = worker("w1").pid();

  ASSERT_NO_FATAL_FAILURE(RestartCoordinator());
  ExpectDatabaseSound();
  v1::Graph g = WaitForGraphEnd(id, absl::Seconds(50));
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();
  const v1::Task* t = FindTask(g, "t");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->attempts_size(), 1) << g.DebugString();
  const v1::Attempt& a = t->attempts(0);
  EXPECT_EQ(a.state(), v1::ATTEMPT_STATE_SUCCEEDED);
  EXPECT_EQ(a.worker(), "w1");
  EXPECT_THAT(ReadLines(Path("log")),
              ElementsAre(absl::StrCat("t ", a.attempt_id())));
  EXPECT_EQ(worker("w1").pid(), worker_pid);
  EXPECT_FALSE(worker("w1").Exited());
  EXPECT_THAT(coordinator().Stderr(), HasSubstr("1 attempts kept"));
  ExpectDatabaseSound();
}

// Workers follow a daemon restarted on the same address within about a
// second: they keep running their tasks meanwhile, and the sooner they are
// back, the fewer attempts the daemon gives up on.
TEST_F(FaultTest, WorkerReconnectsPromptlyAfterDaemonRestart) {

  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  for (int i = 1; i <= 3; ++i) {
    SCOPED_TRACE(absl::StrCat("restart #", i));
    const uint64_t session = SessionOf("w1");
    ASSERT_NE(session, 0u);
    ASSERT_NO_FATAL_FAILURE(RestartCoordinator());
    const absl::Time restarted_at = absl::Now();
    ASSERT_NE(WaitForNewSession("w1", session), 0u);
    EXPECT_LT(absl::Now() - restarted_at, absl::Seconds(3))
        << worker("w1").LogsForDiagnosis();
  }
}

// After a restart, an attempt whose worker never comes back is lost once
// the lease has passed, and its task runs elsewhere.
TEST_F(FaultTest, CoordinatorRestartRequeuesAttemptsOfWorkersThatDoNotReturn) {
  KillAtTearDown(Path("first.pid"));
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string id = Submit(WriteDag(
      "t.json", Graph("orphan", {FirstAttemptHangs("t", "first.pid")})));
  ASSERT_FALSE(id.empty());
  ASSERT_NO_FATAL_FAILURE(WaitForAttemptOn(id, "t", 1, "w1"));

  ASSERT_NO_FATAL_FAILURE(KillCoordinator());
  ASSERT_NO_FATAL_FAILURE(KillWorker("w1"));
  KillTaskProcess(Path("first.pid"));
  const int64_t restarted_at = NowMs();
  ASSERT_NO_FATAL_FAILURE(StartCoordinatorOnSamePort());
  ASSERT_NO_FATAL_FAILURE(StartWorker("w2", 1));
  v1::Graph g = WaitForGraphEnd(id);
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();
  const v1::Task* t = FindTask(g, "t");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->attempts_size(), 2) << g.DebugString();
  EXPECT_EQ(t->attempts(0).state(), v1::ATTEMPT_STATE_LOST);
  EXPECT_THAT(t->attempts(0).error(),
              HasSubstr("did not come back after the coordinator restarted"));
  EXPECT_GE(t->attempts(0).finished_at_ms() - restarted_at, kLeaseMs / 2)
      << "the restarted daemon did not wait for the worker";
  EXPECT_EQ(t->attempts(1).state(), v1::ATTEMPT_STATE_SUCCEEDED);
  EXPECT_EQ(t->attempts(1).worker(), "w2");
}

// A task's timeout kills its whole process group, not only the process the
// worker started: a grandchild in the background dies too.
TEST_F(FaultTest, TimeoutKillsTheWholeProcessGroup) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  KillAtTearDown(Path("grandchild.pid"));
  v1::TaskSpec t = ShellTask("t", "sleep 60 & echo $! > grandchild.pid; wait");
  t.set_timeout_s(1);
  CliResult r =
      Cli({"submit", WriteDag("t.json", Graph("timeout", {t})), "--wait"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("timed out after 1s"));
  std::optional<pid_t> pid = ReadPid(Path("grandchild.pid"));
  ASSERT_TRUE(pid.has_value());
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] { return !ProcessAlive(*pid); }))
      << "the task's grandchild " << *pid << " survived the timeout";
  absl::StatusOr<v1::Graph> g = GetGraph(FirstLine(r.out));
  ASSERT_TRUE(g.ok()) << g.status();
  const v1::Task* task = FindTask(*g, "t");
  ASSERT_NE(task, nullptr);
  EXPECT_EQ(task->state(), v1::TASK_STATE_FAILED);
  ASSERT_EQ(task->attempts_size(), 1);
  EXPECT_TRUE(task->attempts(0).timed_out());
}

// Cancelling one running task kills it and skips its dependents; the
// independent part of the graph goes on.
TEST_F(FaultTest, CancelOfOneRunningTaskSkipsOnlyItsDependents) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}}));
  KillAtTearDown(Path("long.pid"));
  const std::string id = Submit(WriteDag(
      "c.json", Graph("cancel-one",
                      {ShellTask("long", "echo $$ > long.pid; exec sleep 60"),
                       ShellTask("after", "touch ran-after", {"long"}),
                       HeldUntilReleased("other")})));
  ASSERT_FALSE(id.empty());
  v1::Graph g = PollGraph(id, absl::Seconds(20), [&](const v1::Graph& g) {
    const v1::Task* l = FindTask(g, "long");
    const v1::Task* o = FindTask(g, "other");
    return l && o && l->state() == v1::TASK_STATE_RUNNING &&
           o->state() == v1::TASK_STATE_RUNNING &&
           ReadPid(Path("long.pid")).has_value();
  });
  std::optional<pid_t> pid = ReadPid(Path("long.pid"));
  ASSERT_TRUE(pid.has_value()) << g.DebugString();
  const uint64_t other = LastAttempt(*FindTask(g, "other")).attempt_id();

  CliResult cancel = Cli({"cancel", id, "long"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(cancel.out,
              HasSubstr(absl::StrCat("cancelled 1 task(s) of graph ", id)));
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] { return !ProcessAlive(*pid); }))
      << "the cancelled task's process " << *pid << " is still running";
  g = PollGraph(id, absl::Seconds(10), [](const v1::Graph& g) {
    const v1::Task* a = FindTask(g, "after");
    return a && a->state() == v1::TASK_STATE_SKIPPED;
  });
  EXPECT_EQ(FindTask(g, "long")->state(), v1::TASK_STATE_CANCELLED);
  EXPECT_EQ(LastAttempt(*FindTask(g, "long")).state(),
            v1::ATTEMPT_STATE_CANCELLED);
  EXPECT_EQ(FindTask(g, "after")->state(), v1::TASK_STATE_SKIPPED);
  EXPECT_EQ(FindTask(g, "after")->skipped_because(), "long");
  EXPECT_EQ(FindTask(g, "other")->state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_RUNNING);

  WriteFileOrFail(Path(absl::StrCat("release.", other)), "");
  g = WaitForGraphEnd(id);
  EXPECT_EQ(FindTask(g, "other")->state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_NE(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED);
  EXPECT_FALSE(std::filesystem::exists(Path("ran-after")));
}

// SIGTERM drains a worker: no new task, the running one finishes and is
// reported, then the worker says goodbye and exits 0. The task queued
// behind runs on another worker.
TEST_F(FaultTest, SigtermDrainFinishesRunningTaskAndTakesNoNewOne) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  v1::TaskSpec first = ShellTask(
      "first", "echo start >> first.log; sleep 2; echo end >> first.log");
  first.set_priority(10);
  v1::TaskSpec second = ShellTask("second", "echo ran >> second.log");
  const std::string id =
      Submit(WriteDag("d.json", Graph("drain", {first, second})));
  ASSERT_FALSE(id.empty());
  ASSERT_NO_FATAL_FAILURE(WaitForAttemptOn(id, "first", 1, "w1"));
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return ReadLines(Path("first.log")).size() == 1;
  }));

  ASSERT_TRUE(worker("w1").Signal(SIGTERM).ok());
  // The daemon hears of the drain while the task still runs.
  bool seen_draining = PollUntil(absl::Seconds(10), [&] {
    absl::StatusOr<v1::ListWorkersResponse> workers = ListWorkers();
    if (!workers.ok()) return false;
    for (const v1::WorkerInfo& w : workers->workers()) {
      if (w.name() == "w1" && w.draining()) return true;
    }
    return false;
  });
  EXPECT_TRUE(seen_draining);
  absl::StatusOr<int> code = worker("w1").WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << worker("w1").LogsForDiagnosis();
  EXPECT_EQ(*code, 0) << worker("w1").LogsForDiagnosis();
  // It exited after its task finished and was reported.
  EXPECT_THAT(ReadLines(Path("first.log")), ElementsAre("start", "end"));
  absl::StatusOr<v1::Graph> g = GetGraph(id);
  ASSERT_TRUE(g.ok()) << g.status();
  const v1::Task* f = FindTask(*g, "first");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->state(), v1::TASK_STATE_SUCCEEDED) << g->DebugString();
  ASSERT_EQ(f->attempts_size(), 1);
  EXPECT_EQ(f->attempts(0).worker(), "w1");
  // The draining worker had a free slot but took nothing new.
  const v1::Task* s = FindTask(*g, "second");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->attempts_size(), 0) << g->DebugString();
  EXPECT_FALSE(std::filesystem::exists(Path("second.log")));
  EXPECT_THAT(worker("w1").Stderr(), HasSubstr("said goodbye"));

  ASSERT_NO_FATAL_FAILURE(StartWorker("w2", 1));
  v1::Graph done = WaitForGraphEnd(id);
  EXPECT_EQ(done.summary().state(), v1::GRAPH_STATE_SUCCEEDED);
  s = FindTask(done, "second");
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->attempts_size(), 1);
  EXPECT_EQ(s->attempts(0).worker(), "w2");
  EXPECT_THAT(ReadLines(Path("second.log")), ElementsAre("ran"));
}

// Past its drain deadline the worker stops what still runs and hands it
// back; the daemon re-queues it at once (not after the long lease) on
// another worker.
TEST_F(FaultTest, DrainPastDeadlineHandsTheTaskBack) {
  SetTaskdFlag("lease-timeout", "30s");
  KillAtTearDown(Path("first.pid"));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_NO_FATAL_FAILURE(
      StartWorker("w1", 1, {}, {"--drain-timeout", "500ms"}));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1"}));
  const std::string id = Submit(WriteDag(
      "t.json", Graph("handback", {FirstAttemptHangs("t", "first.pid")})));
  ASSERT_FALSE(id.empty());
  ASSERT_NO_FATAL_FAILURE(WaitForAttemptOn(id, "t", 1, "w1"));
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return ReadPid(Path("first.pid")).has_value();
  }));
  const pid_t task_pid = *ReadPid(Path("first.pid"));
  ASSERT_NO_FATAL_FAILURE(StartWorker("w2", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1", "w2"}));

  const absl::Time term_at = absl::Now();
  const int64_t term_at_ms = NowMs();
  ASSERT_TRUE(worker("w1").Signal(SIGTERM).ok());
  absl::StatusOr<int> code = worker("w1").WaitForExit(absl::Seconds(15));
  ASSERT_TRUE(code.ok()) << worker("w1").LogsForDiagnosis();
  EXPECT_EQ(*code, 0) << worker("w1").LogsForDiagnosis();
  EXPECT_GE(absl::Now() - term_at, absl::Milliseconds(400))
      << "the worker did not wait for its drain deadline";
  EXPECT_TRUE(
      PollUntil(absl::Seconds(10), [&] { return !ProcessAlive(task_pid); }))
      << "the handed-back task " << task_pid << " still runs";

  v1::Graph g = WaitForGraphEnd(id);
  EXPECT_LT(absl::Now() - term_at, absl::Seconds(10))
      << "the handed-back task waited for the 30 s lease";
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();
  const v1::Task* t = FindTask(g, "t");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->attempts_size(), 2) << g.DebugString();
  EXPECT_EQ(t->attempts(0).state(), v1::ATTEMPT_STATE_LOST);
  EXPECT_THAT(t->attempts(0).error(), HasSubstr("handed back"));
  EXPECT_GE(t->attempts(0).finished_at_ms() - term_at_ms, 400);
  EXPECT_EQ(t->attempts(1).state(), v1::ATTEMPT_STATE_SUCCEEDED);
  EXPECT_EQ(t->attempts(1).worker(), "w2");
}

// Failed attempts are retried after an exponential backoff: with
// --retry-backoff 300ms, the second attempt starts at least 300 ms after
// the first failed, the third at least 600 ms after the second failed.
TEST_F(FaultTest, RetriesWaitForExponentialBackoff) {
  SetTaskdFlag("retry-backoff", "300ms");
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  v1::Task task;
  ASSERT_NO_FATAL_FAILURE(RunTaskFailingTwice("backoff", task));
  const v1::Task* t = &task;
  EXPECT_EQ(t->attempts(0).state(), v1::ATTEMPT_STATE_FAILED);
  EXPECT_EQ(t->attempts(1).state(), v1::ATTEMPT_STATE_FAILED);
  EXPECT_EQ(t->attempts(2).state(), v1::ATTEMPT_STATE_SUCCEEDED);
  const int64_t gap1 =
      t->attempts(1).started_at_ms() - t->attempts(0).finished_at_ms();
  const int64_t gap2 =
      t->attempts(2).started_at_ms() - t->attempts(1).finished_at_ms();
  EXPECT_GE(gap1, 300);
  EXPECT_GE(gap2, 600);
  EXPECT_GE(t->attempts(1).started_at_ms() - t->attempts(0).started_at_ms(),
            300);
  EXPECT_GE(t->attempts(2).started_at_ms() - t->attempts(1).started_at_ms(),
            600);
  // Loose upper bounds: the retry is not forgotten either.
  EXPECT_LT(gap1, 300 + 3000);
  EXPECT_LT(gap2, 600 + 3000);
  EXPECT_EQ(ReadLines(Path("tries")).size(), 3u);
}

// --max-retry-backoff caps the doubling.
TEST_F(FaultTest, RetryBackoffIsCappedByMaxRetryBackoff) {
  SetTaskdFlag("retry-backoff", "1s");
  SetTaskdFlag("max-retry-backoff", "1s");
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  v1::Task task;
  ASSERT_NO_FATAL_FAILURE(RunTaskFailingTwice("cap", task));
  const v1::Task* t = &task;
  const int64_t gap2 =
      t->attempts(2).started_at_ms() - t->attempts(1).finished_at_ms();
  EXPECT_GE(gap2, 1000);
  // Uncapped, it would be 2 s.
  EXPECT_LT(gap2, 1800);
}

// `vitte-task retry` runs the failed and skipped part of a finished graph
// again, and nothing that succeeded.
TEST_F(FaultTest, RetryCommandRerunsOnlyTheFailedPart) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}}));
  const std::string dag = WriteDag(
      "r.json",
      Graph("retry", {ShellTask("a", "echo ran >> a.log"),
                      ShellTask("b", "echo ran >> b.log; [ -f ok ]", {"a"}),
                      ShellTask("c", "echo ran >> c.log", {"b"}),
                      ShellTask("d", "echo ran >> d.log")}));
  CliResult r = Cli({"submit", dag, "--wait"});
  ASSERT_EQ(r.exit_code, 1) << r.err;
  const std::string id = FirstLine(r.out);
  absl::StatusOr<v1::Graph> g = GetGraph(id);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->summary().state(), v1::GRAPH_STATE_FAILED);
  EXPECT_EQ(FindTask(*g, "c")->state(), v1::TASK_STATE_SKIPPED);

  WriteFileOrFail(Path("ok"), "");
  CliResult retry = Cli({"retry", id, "--wait"});
  EXPECT_EQ(retry.exit_code, 0) << retry.err;
  EXPECT_THAT(retry.err, HasSubstr("2 task(s) will run again"));
  g = GetGraph(id);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->summary().state(), v1::GRAPH_STATE_SUCCEEDED);
  EXPECT_EQ(g->summary().counts().succeeded(), 4);
  EXPECT_THAT(ReadLines(Path("a.log")), ElementsAre("ran"));
  EXPECT_THAT(ReadLines(Path("b.log")), ElementsAre("ran", "ran"));
  EXPECT_THAT(ReadLines(Path("c.log")), ElementsAre("ran"));
  EXPECT_THAT(ReadLines(Path("d.log")), ElementsAre("ran"));
  EXPECT_EQ(FindTask(*g, "a")->attempts_size(), 1);
  EXPECT_EQ(FindTask(*g, "d")->attempts_size(), 1);
  const v1::Task* b = FindTask(*g, "b");
  ASSERT_EQ(b->attempts_size(), 2);
  EXPECT_EQ(b->attempts(0).state(), v1::ATTEMPT_STATE_FAILED);
  EXPECT_EQ(b->attempts(1).state(), v1::ATTEMPT_STATE_SUCCEEDED);

  // A graph that succeeded has nothing to retry; an unknown one is unknown.
  CliResult again = Cli({"retry", id});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("succeeded"));
  CliResult unknown = Cli({"retry", "424242"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("unknown graph \"424242\""));
}

// A task whose worker is lost every time it runs it (a poison task) fails
// for good after --max-lost-attempts losses, with a clear error; losses do
// not consume max_attempts (here 1).
TEST_F(FaultTest, PoisonTaskFailsAfterMaxLostAttempts) {
  SetTaskdFlag("max-lost-attempts", "2");
  SetTaskdFlag("lease-timeout", "30s");
  KillAtTearDown(Path("current.pid"));
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string id = Submit(WriteDag(
      "p.json",
      Graph("poison",
            {ShellTask("poison", "echo $$ > current.pid; exec sleep 60"),
             ShellTask("after", "touch ran-after", {"poison"})})));
  ASSERT_FALSE(id.empty());
  for (int n = 1; n <= 2; ++n) {
    SCOPED_TRACE(absl::StrCat("loss #", n));
    ASSERT_NO_FATAL_FAILURE(WaitForAttemptOn(id, "poison", n, "w1"));
    ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
      return ReadPid(Path("current.pid")).has_value();
    }));
    // The task "kills its machine": worker and task die, the worker comes
    // back under its name.
    ASSERT_NO_FATAL_FAILURE(KillWorker("w1"));
    KillTaskProcess(Path("current.pid"));
    std::filesystem::remove(Path("current.pid"));
    ASSERT_NO_FATAL_FAILURE(StartWorker("w1", 1));
  }
  v1::Graph g = WaitForGraphEnd(id);
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_FAILED) << g.DebugString();
  const v1::Task* p = FindTask(g, "poison");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->state(), v1::TASK_STATE_FAILED);
  ASSERT_EQ(p->attempts_size(), 2) << g.DebugString();
  EXPECT_EQ(p->attempts(0).state(), v1::ATTEMPT_STATE_LOST);
  EXPECT_EQ(p->attempts(1).state(), v1::ATTEMPT_STATE_LOST);
  EXPECT_THAT(p->attempts(1).error(), HasSubstr("not retried again"));
  EXPECT_EQ(FindTask(g, "after")->state(), v1::TASK_STATE_SKIPPED);
  EXPECT_FALSE(std::filesystem::exists(Path("ran-after")));
  CliResult watch = Cli({"watch", id});
  EXPECT_EQ(watch.exit_code, 1);
  EXPECT_THAT(watch.out, HasSubstr("not retried again (poison task?)"));
}

// A misbehaving client posing as a worker reports a result for an attempt
// that another worker runs: the result is refused and changes nothing.
TEST_F(FaultTest, ResultFromAnotherSessionIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string id =
      Submit(WriteDag("t.json", Graph("fence", {HeldUntilReleased("t")})));
  ASSERT_FALSE(id.empty());
  v1::Graph g = WaitForAttemptOn(id, "t", 1, "w1");
  const v1::Attempt running = LastAttempt(*FindTask(g, "t"));

  auto channel =
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  auto stub = v1::WorkerService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub->Connect(&ctx);
  v1::WorkerMessage hello;
  hello.mutable_register_()->set_name("intruder");
  hello.mutable_register_()->set_slots(1);
  // It claims to hold the attempt, too.
  hello.mutable_register_()->add_held_attempt_ids(running.attempt_id());
  ASSERT_TRUE(stream->Write(hello));
  v1::CoordinatorMessage reply;
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_TRUE(reply.has_registered());
  v1::WorkerMessage report;
  v1::AttemptResult* result = report.add_results();
  result->set_attempt_id(running.attempt_id());
  result->set_success(false);
  result->set_exit_code(9);
  ASSERT_TRUE(stream->Write(report));
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return absl::StrContains(
        coordinator().Stderr(),
        absl::StrCat("decision=fenced graph=", id, " task=t attempt=",
                     running.attempt_id(), " worker=intruder "));
  })) << coordinator().LogsForDiagnosis();
  stream->WritesDone();
  ctx.TryCancel();
  grpc::Status ignored = stream->Finish();
  (void)ignored;

  absl::StatusOr<v1::Graph> now = GetGraph(id);
  ASSERT_TRUE(now.ok()) << now.status();
  const v1::Task* t = FindTask(*now, "t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->state(), v1::TASK_STATE_RUNNING) << now->DebugString();
  ASSERT_EQ(t->attempts_size(), 1);
  EXPECT_EQ(t->attempts(0).SerializeAsString(), running.SerializeAsString());

  WriteFileOrFail(Path(absl::StrCat("release.", running.attempt_id())), "");
  g = WaitForGraphEnd(id);
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();
  t = FindTask(g, "t");
  ASSERT_EQ(t->attempts_size(), 1);
  EXPECT_EQ(t->attempts(0).worker(), "w1");
  EXPECT_EQ(t->attempts(0).exit_code(), 0);
}

// The connection between a worker and the daemon breaks while a task runs,
// both stay up: the daemon keeps the attempt, the worker reconnects and
// claims it, and its result is accepted. The task runs once.
TEST_F(FaultTest, BrokenStreamKeepsTheAttemptForTheReconnectingWorker) {
  SetTaskdFlag("lease-timeout", "10s");
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  CuttableProxy proxy(port());
  ASSERT_GT(proxy.port(), 0);
  auto process = Process::Start(
      {WorkerPath(), "--coordinator", absl::StrCat("127.0.0.1:", proxy.port()),
       "--name", "w1", "--slots", "1", "--log-level", "info"},
      Path("worker.proxied"));
  ASSERT_TRUE(process.ok()) << process.status();
  std::unique_ptr<Process> w1 = std::move(*process);
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1"}));
  const uint64_t session = SessionOf("w1");
  const std::string id = Submit(WriteDag(
      "t.json",
      Graph("cut",
            {ShellTask("t",
                       "echo \"$VITTE_TASK_ID $VITTE_ATTEMPT_ID\" >> log; "
                       "sleep 1.5")})));
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(PollUntil(absl::Seconds(20),
                        [&] { return ReadLines(Path("log")).size() == 1; }));

  const absl::Time cut_at = absl::Now();
  proxy.Cut();
  EXPECT_NE(WaitForNewSession("w1", session), 0u) << w1->LogsForDiagnosis();
  v1::Graph g = WaitForGraphEnd(id, absl::Seconds(30));
  EXPECT_LT(absl::Now() - cut_at, absl::Seconds(8))
      << "the attempt waited for the lease instead of being claimed";
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();
  const v1::Task* t = FindTask(g, "t");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->attempts_size(), 1) << g.DebugString();
  EXPECT_EQ(t->attempts(0).state(), v1::ATTEMPT_STATE_SUCCEEDED);
  EXPECT_THAT(ReadLines(Path("log")),
              ElementsAre(absl::StrCat("t ", t->attempts(0).attempt_id())));
  EXPECT_GE(proxy.connections(), 2);
  EXPECT_THAT(coordinator().Stderr(), HasSubstr("1 attempts kept"));
}

// The daemon's own flags: durations, --sync and the limits are checked.
TEST_F(FaultTest, DaemonChecksItsFaultToleranceFlags) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--sync", "sometimes"}, "--sync must be full or normal"},
      {{"--heartbeat-interval", "1s", "--lease-timeout", "1s"},
       "--lease-timeout must be longer than --heartbeat-interval"},
      {{"--max-lost-attempts", "0"}, "--max-lost-attempts must be in"},
      {{"--max-message-bytes", "10"}, "--max-message-bytes must be in"},
      {{"--lease-timeout", "soon"}, "lease-timeout"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    std::vector<std::string> argv = {TaskdPath(), "--listen", "127.0.0.1:0",
                                     "--db", Path("flags.db")};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto p = Process::Start(argv, Path("taskd-flags"));
    ASSERT_TRUE(p.ok()) << p.status();
    absl::StatusOr<int> code = (*p)->WaitForExit(absl::Seconds(10));
    ASSERT_TRUE(code.ok()) << "vitte-taskd accepted " << c.args[0];
    EXPECT_EQ(*code, 2);
    EXPECT_THAT((*p)->Stderr(), HasSubstr(c.message));
  }
  // --sync normal is a working daemon.
  SetTaskdFlag("sync", "normal");
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  CliResult r = Cli(
      {"submit", WriteDag("ok.json", Graph("ok", {MakeTask("t", {"true"})})),
       "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace vitte::task::integration
