// Fakes for the coordinator's collaborators (worker connections and graph
// watchers, which just record what they receive) and the fixture shared by
// the coordinator tests: a real Store on a temp file, a FakeClock.
#ifndef VITTE_TESTS_COORDINATOR_COORDINATOR_FIXTURE_H_
#define VITTE_TESTS_COORDINATOR_COORDINATOR_FIXTURE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/coordinator.h"
#include "coordinator/store.h"
#include "coordinator/types.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include "tests/coordinator/test_util.h"

namespace vitte::task::testing_util {

// Records what the coordinator sends to one worker session. Thread-safe.
class FakeConnection : public WorkerConnection {
 public:
  void OnRegistered(SessionId session, absl::Duration heartbeat) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back("registered");
    session_ = session;
    heartbeat_ = heartbeat;
  }
  void Send(std::vector<Assignment> assignments,
            std::vector<AttemptId> cancels) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("send ", assignments.size(), "+",
                                  cancels.size()));
    for (Assignment& a : assignments) {
      history_.push_back(a);
      pending_.push_back(std::move(a));
    }
    cancels_.insert(cancels_.end(), cancels.begin(), cancels.end());
  }
  void Close(const absl::Status& why) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("close ", why.ToString()));
    closed_ = true;
    close_status_ = why;
  }
  bool closed() const {
    absl::MutexLock lock(&mu_);
    return closed_;
  }
  // Why the stream was closed (OK while it is not).
  absl::Status close_status() const {
    absl::MutexLock lock(&mu_);
    return close_status_;
  }

  // Assignments received since the last Take.
  std::vector<Assignment> Take() {
    absl::MutexLock lock(&mu_);
    return std::exchange(pending_, {});
  }
  // Like Take, but first waits up to `timeout` for something to arrive.
  std::vector<Assignment> WaitAndTake(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !pending_.empty();
    };
    mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout);
    return std::exchange(pending_, {});
  }
  std::vector<Assignment> history() const {
    absl::MutexLock lock(&mu_);
    return history_;
  }
  std::vector<AttemptId> cancels() const {
    absl::MutexLock lock(&mu_);
    return cancels_;
  }
  std::vector<std::string> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

  SessionId session() const {
    absl::MutexLock lock(&mu_);
    return session_;
  }
  absl::Duration heartbeat() const {
    absl::MutexLock lock(&mu_);
    return heartbeat_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<Assignment> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<Assignment> history_ ABSL_GUARDED_BY(mu_);
  std::vector<AttemptId> cancels_ ABSL_GUARDED_BY(mu_);
  SessionId session_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration heartbeat_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status close_status_ ABSL_GUARDED_BY(mu_);
};

// Records the events of one graph. Thread-safe.
class FakeWatcher : public GraphWatcher {
 public:
  void OnEvents(EventBatch batch) override {
    absl::MutexLock lock(&mu_);
    ++batches_;
    events_.insert(events_.end(), batch.events.begin(), batch.events.end());
    batch_sizes_.push_back(batch.events.size());
    batch.events.clear();
    batch_info_.push_back(std::move(batch));
  }
  // The batches received, without their events.
  std::vector<EventBatch> batch_info() const {
    absl::MutexLock lock(&mu_);
    return batch_info_;
  }
  // How many events each batch held.
  std::vector<size_t> batch_sizes() const {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }
  std::vector<TaskEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  int batches() const {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  bool finished() const {
    absl::MutexLock lock(&mu_);
    return !events_.empty() && events_.back().graph_finished;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<TaskEvent> events_ ABSL_GUARDED_BY(mu_);
  std::vector<EventBatch> batch_info_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> batch_sizes_ ABSL_GUARDED_BY(mu_);
  int batches_ ABSL_GUARDED_BY(mu_) = 0;
};

// Checks the sequence numbers a follower got: the first batch (compacted:
// in graph and task order) holds nothing past its cursor, and every later
// event comes after that cursor, in increasing order.
inline void ExpectInSequence(const FakeWatcher& watcher) {
  std::vector<TaskEvent> events = watcher.events();
  std::vector<size_t> sizes = watcher.batch_sizes();
  std::vector<EventBatch> batches = watcher.batch_info();
  ASSERT_FALSE(sizes.empty());
  const uint64_t first_cursor = batches[0].cursor;
  for (size_t i = 0; i < sizes[0]; ++i) {
    EXPECT_LE(events[i].sequence, first_cursor) << "event " << i;
  }
  uint64_t last = first_cursor;
  for (size_t i = sizes[0]; i < events.size(); ++i) {
    ASSERT_GT(events[i].sequence, last) << "event " << i;
    last = events[i].sequence;
  }
}

// "task:state" per task event, "GRAPH:state" for a graph event.
inline std::vector<std::string> Describe(const std::vector<TaskEvent>& events) {
  std::vector<std::string> out;
  for (const TaskEvent& e : events) {
    if (e.task_index < 0) {
      out.push_back(absl::StrCat("GRAPH:", GraphStateName(e.graph_state)));
    } else {
      out.push_back(absl::StrCat(e.task_id, ":", TaskStateName(e.task_state)));
    }
  }
  return out;
}

// `n` independent tasks t0, t1, ...
inline std::vector<TaskSpec> IndependentTasks(int n) {
  std::vector<TaskSpec> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(MakeTask(absl::StrCat("t", i)));
  return tasks;
}

// "chain": a, then b after a, then c after b.
inline GraphSpec ChainGraph() {
  return MakeGraph("chain",
                   {MakeTask("a"), MakeTask("b", {"a"}), MakeTask("c", {"b"})});
}

// `n` tasks t0, t1, ... where every fourth waits for the one before it, so
// that results make new tasks ready while other results arrive too.
inline std::vector<TaskSpec> MostlyIndependentTasks(int n) {
  std::vector<TaskSpec> tasks;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> deps;
    if (i % 4 == 3) deps.push_back(absl::StrCat("t", i - 1));
    tasks.push_back(MakeTask(absl::StrCat("t", i), deps));
  }
  return tasks;
}

inline std::vector<std::string> TaskIds(const std::vector<Assignment>& assignments) {
  std::vector<std::string> out;
  for (const Assignment& a : assignments) out.push_back(a.task_id);
  return out;
}

inline AttemptOutcome Succeeded(const Assignment& a, std::string out = "") {
  AttemptOutcome o;
  o.attempt_id = a.attempt_id;
  o.success = true;
  o.exit_code = 0;
  o.stdout_tail = std::move(out);
  return o;
}

inline AttemptOutcome Failed(const Assignment& a, int32_t exit_code = 1,
                      std::string err = "") {
  AttemptOutcome o;
  o.attempt_id = a.attempt_id;
  o.success = false;
  o.exit_code = exit_code;
  o.stderr_tail = std::move(err);
  o.error = absl::StrCat("exit code ", exit_code);
  return o;
}

struct Worker {
  SessionId session = 0;
  std::shared_ptr<FakeConnection> conn;
};

class CoordinatorTest : public ::testing::Test {
 protected:
  CoordinatorTest() {
    // Retries run at once unless a test is about the backoff: a failed task
    // would otherwise wait for a Tick that most tests have no reason to make.
    options_.retry_backoff = absl::ZeroDuration();
  }

  void SetUp() override {
    // The coordinator logs every transition at info level, and refused
    // results at warn; the tests provoke plenty of both.
    spdlog::set_level(spdlog::level::err);
    ASSERT_NO_FATAL_FAILURE(OpenStore());
    ASSERT_NO_FATAL_FAILURE(Start());
  }
  void TearDown() override {
    coord_.reset();
    store_.reset();
  }

  void OpenStore() {
    absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(path_, store_options_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  void Start() {
    absl::StatusOr<std::unique_ptr<Coordinator>> c =
        Coordinator::Create(*store_, clock_, options_);
    ASSERT_TRUE(c.ok()) << c.status();
    coord_ = *std::move(c);
  }
  // Replaces the coordinator by one with `options`, on the same store.
  void StartWith(CoordinatorOptions options) {
    coord_.reset();
    options_ = std::move(options);
    Start();
  }
  // Stops the coordinator and closes the file, then opens both again, as a
  // daemon restart does.
  void Restart() {
    coord_.reset();
    store_.reset();
    OpenStore();
    Start();
  }

  Worker Connect(const std::string& name, int32_t slots = 1, Labels labels = {},
                 std::vector<AttemptId> held = {}) {
    WorkerRegistration reg;
    reg.name = name;
    reg.slots = slots;
    reg.labels = std::move(labels);
    reg.held_attempts = std::move(held);
    return Open(std::move(reg));
  }

  // A worker registering with everything `reg` says (e.g. serve-labels).
  Worker Open(WorkerRegistration reg) {
    Worker w;
    w.conn = std::make_shared<FakeConnection>();
    absl::StatusOr<SessionId> id = coord_->OpenSession(std::move(reg), w.conn);
    EXPECT_TRUE(id.ok()) << id.status();
    w.session = id.value_or(0);
    return w;
  }

  // A worker process coming back under `name` (a new stream) and saying
  // which attempts it still runs or has results for.
  Worker Reconnect(const std::string& name, int32_t slots,
                   std::vector<AttemptId> held) {
    return Connect(name, slots, {}, std::move(held));
  }

  // Moves the clock by `d` while each of `alive` sends a heartbeat, then
  // lets the coordinator act on the time (as the server's ticker does).
  void AdvanceAndTick(absl::Duration d, const std::vector<Worker*>& alive = {}) {
    clock_.Advance(d);
    for (Worker* w : alive) {
      EXPECT_TRUE(coord_->Heartbeat(w->session)) << "session " << w->session;
    }
    coord_->Tick();
  }

  GraphId Submit(GraphSpec spec, std::string request_id = "") {
    absl::StatusOr<SubmitResult> r =
        coord_->Submit(std::move(spec), std::move(request_id));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return 0;
    EXPECT_TRUE(r->created);
    return r->graph_id;
  }

  GraphView View(GraphId id, bool all_attempts = true) {
    absl::StatusOr<GraphView> v = coord_->GetGraph(id, all_attempts);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.value_or(GraphView{});
  }

  TaskState StateOf(GraphId id, const std::string& task) {
    GraphView v = View(id);
    for (size_t i = 0; i < v.spec.tasks.size(); ++i) {
      if (v.spec.tasks[i].id == task) return v.tasks[i].state;
    }
    ADD_FAILURE() << "no task " << task;
    return TaskState::kPending;
  }

  // Reports success for each assignment `w` gets, one at a time, until it
  // gets none; returns the task ids in the order they were assigned.
  std::vector<std::string> RunAll(Worker& w) {
    std::vector<std::string> order;
    for (int guard = 0; guard < 1000; ++guard) {
      std::vector<Assignment> got = w.conn->Take();
      if (got.empty()) break;
      for (const Assignment& a : got) {
        order.push_back(a.task_id);
        EXPECT_EQ(coord_->Report(w.session, {Succeeded(a)}), 0);
      }
    }
    return order;
  }

  TempDir dir_;
  const std::string path_ = dir_.File("coordinator.db");
  StoreOptions store_options_;
  CoordinatorOptions options_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Coordinator> coord_;
};

}  // namespace vitte::task::testing_util

#endif  // VITTE_TESTS_COORDINATOR_COORDINATOR_FIXTURE_H_
