// The coordinator with background_commit, as the daemon runs it: changes
// share commits, and nothing leaves before the commit that holds it.
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "coordinator/coordinator.h"
#include "coordinator/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/coordinator/test_util.h"

namespace vitte::task {
namespace {

using testing_util::ExpectInSequence;
using testing_util::CoordinatorTest;
using testing_util::FakeConnection;
using testing_util::FakeWatcher;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::IndependentTasks;
using testing_util::MostlyIndependentTasks;
using testing_util::Succeeded;
using testing_util::TaskIds;
using testing_util::Worker;

// A connection that, for every assignment it receives, reads the store as
// a restarted coordinator would: the attempt must already be there.
class CheckingConnection : public FakeConnection {
 public:
  explicit CheckingConnection(Store& store) : store_(store) {}
  void Send(std::vector<Assignment> assignments,
            std::vector<AttemptId> cancels) override {
    for (const Assignment& a : assignments) {
      absl::StatusOr<StoredGraph> g =
          store_.ReadGraph(a.graph_id, AttemptsToRead::kLast);
      bool stored = false;
      if (g.ok()) {
        for (const AttemptRecord& r : g->attempts) stored |= r.id == a.attempt_id;
      }
      if (!stored) unstored_.fetch_add(1);
    }
    FakeConnection::Send(std::move(assignments), std::move(cancels));
  }
  // Assignments that arrived before their attempt was committed.
  int unstored() const { return unstored_.load(); }

 private:
  Store& store_;
  std::atomic<int> unstored_ = 0;
};

class GroupCommitTest : public CoordinatorTest {
 protected:
  GroupCommitTest() { options_.background_commit = true; }

  // Restarts the coordinator with batches that nobody waits for lingering
  // a minute, so that a test sees which ones do not wait.
  void StartLingering() {
    CoordinatorOptions options = options_;
    options.max_commit_delay = absl::Minutes(1);
    StartWith(options);
  }

  Worker ConnectChecked(const std::string& name, int32_t slots,
                        int32_t prefetch = 0) {
    Worker w;
    auto conn = std::make_shared<CheckingConnection>(*store_);
    w.conn = conn;
    WorkerRegistration reg;
    reg.name = name;
    reg.slots = slots;
    reg.prefetch = prefetch;
    absl::StatusOr<SessionId> id = coord_->OpenSession(std::move(reg), conn);
    EXPECT_TRUE(id.ok()) << id.status();
    w.session = id.value_or(0);
    return w;
  }
};

TEST_F(GroupCommitTest, SubmitIsDurableWhenItReturns) {
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"})}));
  ASSERT_NE(id, 0);
  // Read straight from the database, not through the coordinator's memory.
  absl::StatusOr<StoredGraph> g = store_->ReadGraph(id);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->spec.tasks.size(), 2u);
  EXPECT_EQ(g->tasks[0].state, TaskState::kReady);
  EXPECT_EQ(g->tasks[1].state, TaskState::kPending);
}

TEST_F(GroupCommitTest, ResubmitOfAPendingRequestIdReturnsTheSameGraph) {
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<SubmitResult>> results(8, absl::UnknownError(""));
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      results[i] = coord_->Submit(MakeGraph("g", {MakeTask("a")}), "req-1");
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<GraphId> ids;
  int created = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    ids.insert(r->graph_id);
    created += r->created;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(created, 1);
}

// Four workers report from their own threads; each assignment is checked
// against the database when it arrives, and commits must be shared.
TEST_F(GroupCommitTest, AssignmentsLeaveAfterTheirCommitAndCommitsAreShared) {
  constexpr int kTasks = 400;
  constexpr int kWorkers = 4;
  GraphId id = Submit(MakeGraph("parallel", MostlyIndependentTasks(kTasks)));
  auto watcher = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(id, watcher));
  const int64_t commits_before = store_->commits();

  std::vector<Worker> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(ConnectChecked(absl::StrCat("w", i), 2, /*prefetch=*/2));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::atomic<int> reports = 0;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> ran(kWorkers);
  for (int i = 0; i < kWorkers; ++i) {
    threads.emplace_back([&, i] {
      while (!watcher->finished() && absl::Now() < deadline) {
        std::vector<AttemptOutcome> results;
        for (const Assignment& a :
             workers[i].conn->WaitAndTake(absl::Milliseconds(50))) {
          ran[i].push_back(a.task_id);
          results.push_back(Succeeded(a));
        }
        if (results.empty()) continue;
        EXPECT_EQ(coord_->Report(workers[i].session, results), 0);
        ++reports;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(watcher->finished()) << "graph did not finish in time";

  std::multiset<std::string> all;
  for (int i = 0; i < kWorkers; ++i) {
    all.insert(ran[i].begin(), ran[i].end());
    auto* conn = static_cast<CheckingConnection*>(workers[i].conn.get());
    EXPECT_EQ(conn->unstored(), 0) << "worker " << i;
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(),
            static_cast<size_t>(kTasks));
  ExpectInSequence(*watcher);
  // Each report, session and dispatch would be a commit of its own without
  // grouping; with an fsync per commit, concurrent ones share.
  const int64_t commits = store_->commits() - commits_before;
  EXPECT_LT(commits, reports.load() + kWorkers)
      << commits << " commits for " << reports.load() << " reports";
  absl::StatusOr<StoredGraph> g = store_->ReadGraph(id);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->record.state, GraphState::kSucceeded);
  for (const TaskStatus& t : g->tasks) {
    EXPECT_EQ(t.state, TaskState::kSucceeded);
    EXPECT_EQ(t.attempts, 1);
  }
}

// Prefetch: a worker gets up to slots + prefetch assignments, and the free
// slots of every worker are filled before any prefetch queue.
TEST_F(GroupCommitTest, PrefetchFillsFreeSlotsFirst) {
  std::vector<Worker> workers;
  for (int i = 0; i < 4; ++i) {
    workers.push_back(ConnectChecked(absl::StrCat("w", i), 1, /*prefetch=*/3));
  }
  Submit(MakeGraph("few", IndependentTasks(4)));
  coord_->Flush();
  for (Worker& w : workers) EXPECT_EQ(w.conn->Take().size(), 1u);

  // Every slot is taken: the queues fill, up to 3 each.
  Submit(MakeGraph("many", IndependentTasks(20)));
  coord_->Flush();
  size_t queued = 0;
  for (Worker& w : workers) {
    size_t n = w.conn->Take().size();
    EXPECT_LE(n, 3u);
    queued += n;
  }
  EXPECT_EQ(queued, 12u);
  for (const WorkerView& v : coord_->ListWorkers()) {
    EXPECT_EQ(v.prefetch, 3);
    EXPECT_EQ(v.running, 4);
  }
}

// A graph leaves memory when it finishes, before that is committed. A watch
// (or retry) arriving in between must still see the end, not the store's
// older "running".
TEST_F(GroupCommitTest, WatchRightAfterTheLastResultSeesTheEnd) {
  Worker w = ConnectChecked("w", 1);
  for (int round = 0; round < 20; ++round) {
    GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
    coord_->Flush();
    std::vector<Assignment> got = w.conn->Take();
    ASSERT_EQ(got.size(), 1u);
    coord_->Report(w.session, {Succeeded(got[0])});  // returns before commit
    auto watcher = std::make_shared<FakeWatcher>();
    ASSERT_OK(coord_->Watch(id, watcher));
    ASSERT_TRUE(watcher->finished()) << "round " << round;
    absl::StatusOr<int64_t> retried = coord_->Retry(id);
    EXPECT_EQ(retried.status().code(), absl::StatusCode::kFailedPrecondition)
        << "round " << round << ": " << retried.status();
  }
}

// A batch that nobody waits for lingers (here: up to a minute); one that
// gives an idle worker its next task commits at once, and so does one
// holding a lingering assignment when its worker runs out of work.
TEST_F(GroupCommitTest, OnlyBatchesThatNobodyWaitsForLinger) {
  StartLingering();
  const std::vector<TaskSpec> tasks = IndependentTasks(5);
  Worker w = ConnectChecked("w", 1, /*prefetch=*/3);
  GraphId id = Submit(MakeGraph("g", tasks));  // a client waits: at once
  std::vector<Assignment> held = w.conn->WaitAndTake(absl::Seconds(30));
  ASSERT_EQ(held.size(), 4u);

  // The worker still holds 3 tasks for its one slot: the replacement for
  // the result it reports does not hurry.
  coord_->Report(w.session, {Succeeded(held[0])});
  EXPECT_TRUE(w.conn->WaitAndTake(absl::Milliseconds(300)).empty());

  // Now it holds nothing, and nothing new is assigned: the lingering
  // assignment must leave at once all the same.
  coord_->Report(w.session, {Succeeded(held[1]), Succeeded(held[2]),
                             Succeeded(held[3])});
  std::vector<Assignment> last = w.conn->WaitAndTake(absl::Seconds(30));
  ASSERT_EQ(TaskIds(last), std::vector<std::string>{"t4"});

  // A graph that finishes does not wait either: its watchers do.
  coord_->Report(w.session, {Succeeded(last[0])});
  auto watcher = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(id, watcher));
  EXPECT_TRUE(watcher->finished());
}

// An idle worker's next task does not wait for more changes: along a chain
// every result frees the only slot, and the next task must come within
// the wait below, far below the minute a lingering batch would take.
TEST_F(GroupCommitTest, AnIdleWorkersNextTaskDoesNotLinger) {
  StartLingering();
  Worker w = ConnectChecked("w", 1, /*prefetch=*/3);
  Submit(MakeGraph("chain", {MakeTask("a"), MakeTask("b", {"a"}),
                             MakeTask("c", {"b"})}));
  std::vector<Assignment> got = w.conn->WaitAndTake(absl::Seconds(30));
  for (const std::string next : {"b", "c"}) {
    ASSERT_EQ(got.size(), 1u);
    coord_->Report(w.session, {Succeeded(got[0])});
    got = w.conn->WaitAndTake(absl::Seconds(30));
    ASSERT_EQ(TaskIds(got), std::vector<std::string>{next});
  }
}

// A worker that leaves while an assignment to it waits for its commit
// never gets it: the attempt was handed on.
TEST_F(GroupCommitTest, ALeavingWorkerGetsNoLateAssignment) {
  StartLingering();
  const std::vector<TaskSpec> tasks = IndependentTasks(5);
  Worker w = ConnectChecked("w", 1, /*prefetch=*/3);
  GraphId id = Submit(MakeGraph("g", tasks));
  std::vector<Assignment> held = w.conn->WaitAndTake(absl::Seconds(30));
  ASSERT_EQ(held.size(), 4u);
  coord_->Report(w.session, {Succeeded(held[0])});  // t4 lingers for w
  coord_->Goodbye(w.session);
  coord_->Flush();
  EXPECT_TRUE(w.conn->Take().empty());
  GraphView v = View(id);
  EXPECT_EQ(v.counts.ready, 4) << "t1..t4 wait for another worker";
}

// An operation that changes nothing returns at once, even when nothing
// else is pending: cancelling a task that already succeeded.
TEST_F(GroupCommitTest, AnOperationThatChangesNothingDoesNotWait) {
  Worker w = ConnectChecked("w", 1);
  GraphId id = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"})}));
  std::vector<Assignment> got = w.conn->WaitAndTake(absl::Seconds(30));
  ASSERT_EQ(TaskIds(got), std::vector<std::string>{"a"});
  coord_->Report(w.session, {Succeeded(got[0])});
  coord_->Flush();
  absl::StatusOr<int64_t> cancelled = coord_->Cancel(id, {"a"});
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(*cancelled, 0);
}

// The coordinator's destructor commits what is still pending: nothing
// acknowledged in memory is left behind.
TEST_F(GroupCommitTest, DestructionCommitsWhatIsPending) {
  GraphId id = Submit(MakeGraph("g", {MakeTask("a")}));
  Worker w = ConnectChecked("w", 1);
  coord_->Flush();
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_EQ(got.size(), 1u);
  coord_->Report(w.session, {Succeeded(got[0])});
  coord_.reset();
  absl::StatusOr<StoredGraph> g = store_->ReadGraph(id);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(g->record.state, GraphState::kSucceeded);
}

}  // namespace
}  // namespace vitte::task
