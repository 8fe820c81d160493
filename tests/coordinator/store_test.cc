#include "coordinator/store.h"

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/codec.h"
#include "common/graph_spec.h"
#include "common/sqlite.h"
#include "coordinator/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/test_util.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::TempDir;

// A graph spec with every field set to something other than its default.
GraphSpec RichSpec() {
  TaskSpec fetch = MakeTask("fetch");
  fetch.command = {"curl", "-fsSL", "https://example.org/a b", ""};
  fetch.env = {{"HTTP_PROXY", "http://proxy:3128"}, {"EMPTY", ""}};
  fetch.cwd = "/var/tmp/fetch";
  fetch.priority = -4;
  fetch.max_attempts = 3;
  fetch.timeout_s = 600;
  fetch.labels = {{"net", "yes"}, {"os", "linux"}};
  TaskSpec unpack = MakeTask("unpack", {"fetch"});
  unpack.priority = 7;
  TaskSpec build = MakeTask("build", {"fetch", "unpack"});
  build.command = {"make", "-j8", std::string("bin\0ary", 7)};
  build.timeout_s = 3600;
  build.max_attempts = 2;
  build.labels = {{"arch", "amd64"}};
  return MakeGraph("release ü", {fetch, unpack, build});
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  // Closes the store (if open) and opens the file again.
  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(path_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  // Inserts `spec` (validated) with every root ready, the rest pending.
  absl::StatusOr<GraphId> Insert(GraphSpec spec, std::string request_id = "",
                                 int64_t created_ms = 1000) {
    absl::StatusOr<Dag> dag = ValidateGraphSpec(spec);
    if (!dag.ok()) return dag.status();
    GraphRecord record;
    record.name = spec.name;
    record.request_id = std::move(request_id);
    record.created_at_ms = created_ms;
    std::vector<TaskStatus> initial(spec.tasks.size());
    for (size_t i = 0; i < initial.size(); ++i) {
      if (dag->deps(i).empty()) initial[i].state = TaskState::kReady;
    }
    return store_->InsertGraph(record, spec, *dag, initial);
  }

  static AttemptRecord Attempt(AttemptId id, GraphId graph, int32_t task,
                               int32_t number, AttemptState state) {
    AttemptRecord a;
    a.id = id;
    a.graph_id = graph;
    a.task_index = task;
    a.number = number;
    a.worker = absl::StrCat("worker-", id % 3);
    a.session_id = 1000 + id;
    a.state = state;
    a.started_at_ms = 10 * id;
    if (state != AttemptState::kRunning) a.finished_at_ms = 10 * id + 5;
    return a;
  }

  static StoreWrites::TaskUpdate Update(GraphId graph, int32_t task,
                                        TaskState state, int32_t attempts,
                                        AttemptId current = 0) {
    StoreWrites::TaskUpdate u{graph, task, {}};
    u.status.state = state;
    u.status.attempts = attempts;
    u.status.current_attempt = current;
    return u;
  }

  TempDir dir_;
  const std::string path_ = dir_.File("vitte.db");
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, InsertedGraphReadsBackIdentically) {
  GraphSpec spec = RichSpec();
  ASSERT_OK_AND_ASSIGN(GraphId id, Insert(spec, "req-1", 1234));
  EXPECT_GT(id, 0);

  ASSERT_OK_AND_ASSIGN(StoredGraph g, store_->ReadGraph(id));
  EXPECT_EQ(g.record.id, id);
  EXPECT_EQ(g.record.name, "release ü");
  EXPECT_EQ(g.record.request_id, "req-1");
  EXPECT_EQ(g.record.state, GraphState::kRunning);
  EXPECT_FALSE(g.record.cancel_requested);
  EXPECT_EQ(g.record.created_at_ms, 1234);
  EXPECT_EQ(g.record.finished_at_ms, 0);
  EXPECT_EQ(g.spec.name, spec.name);
  ASSERT_EQ(g.spec.tasks.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(g.spec.tasks[i], spec.tasks[i]) << "task " << spec.tasks[i].id;
  }
  // The topology is rebuilt.
  ASSERT_EQ(g.dag.size(), 3u);
  EXPECT_THAT(g.dag.deps(2), ElementsAre(0, 1));
  EXPECT_THAT(g.dag.dependents(0), ElementsAre(1, 2));
  ASSERT_EQ(g.tasks.size(), 3u);
  EXPECT_EQ(g.tasks[0].state, TaskState::kReady);
  EXPECT_EQ(g.tasks[1].state, TaskState::kPending);
  EXPECT_EQ(g.tasks[2].skipped_because, -1);

  // And survives closing the file.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_OK_AND_ASSIGN(StoredGraph again, store_->ReadGraph(id));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(again.spec.tasks[i], spec.tasks[i]);
}

TEST_F(StoreTest, DependenciesReadBackDedupedInTaskOrder) {
  GraphSpec spec = MakeGraph(
      "g", {MakeTask("a"), MakeTask("b"), MakeTask("c", {"b", "a", "b"})});
  ASSERT_OK_AND_ASSIGN(GraphId id, Insert(spec));
  ASSERT_OK_AND_ASSIGN(StoredGraph g, store_->ReadGraph(id));
  EXPECT_THAT(g.spec.tasks[2].deps, ElementsAre("a", "b"));
}

TEST_F(StoreTest, ReadUnknownGraphIsNotFound) {
  EXPECT_CODE(store_->ReadGraph(42), absl::StatusCode::kNotFound);
  EXPECT_CODE(store_->ReadGraphRecord(42), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(store_->ReadGraph(42).status().message()),
              HasSubstr("42"));
}

TEST_F(StoreTest, CommittedChangesSurviveReopen) {
  ASSERT_OK_AND_ASSIGN(
      GraphId id, Insert(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"}),
                                         MakeTask("c", {"b"})})));
  StoreWrites w;
  AttemptRecord done = Attempt(1, id, 0, 1, AttemptState::kSucceeded);
  done.exit_code = 0;
  done.stdout_tail = std::string("out\0put", 7);
  done.stderr_tail = "warning: x";
  w.attempts.push_back(done);
  AttemptRecord failed = Attempt(2, id, 1, 1, AttemptState::kFailed);
  failed.exit_code = 2;
  failed.signal = 9;
  failed.timed_out = true;
  failed.error = "killed after 30s";
  w.attempts.push_back(failed);
  w.tasks.push_back(Update(id, 0, TaskState::kSucceeded, 1));
  StoreWrites::TaskUpdate b = Update(id, 1, TaskState::kFailed, 1);
  b.status.failures = 1;
  b.status.lost = 2;
  w.tasks.push_back(b);
  StoreWrites::TaskUpdate c = Update(id, 2, TaskState::kSkipped, 0);
  c.status.skipped_because = 1;
  w.tasks.push_back(c);
  w.graphs.push_back({id, GraphState::kFailed, true, 5555});
  ASSERT_OK(store_->Commit(w));

  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_OK_AND_ASSIGN(StoredGraph g, store_->ReadGraph(id));
  EXPECT_EQ(g.record.state, GraphState::kFailed);
  EXPECT_TRUE(g.record.cancel_requested);
  EXPECT_EQ(g.record.finished_at_ms, 5555);
  EXPECT_EQ(g.tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(g.tasks[0].attempts, 1);
  EXPECT_EQ(g.tasks[1].state, TaskState::kFailed);
  EXPECT_EQ(g.tasks[1].failures, 1);
  EXPECT_EQ(g.tasks[1].lost, 2);
  EXPECT_EQ(g.tasks[0].lost, 0);
  EXPECT_EQ(g.tasks[2].state, TaskState::kSkipped);
  EXPECT_EQ(g.tasks[2].skipped_because, 1);

  ASSERT_OK_AND_ASSIGN(std::vector<AttemptRecord> attempts,
                       store_->ReadAttempts(id, /*all=*/true));
  ASSERT_EQ(attempts.size(), 2u);
  const AttemptRecord& a0 = attempts[0];
  EXPECT_EQ(a0.id, 1u);
  EXPECT_EQ(a0.graph_id, id);
  EXPECT_EQ(a0.task_index, 0);
  EXPECT_EQ(a0.number, 1);
  EXPECT_EQ(a0.worker, done.worker);
  EXPECT_EQ(a0.session_id, done.session_id);
  EXPECT_EQ(a0.state, AttemptState::kSucceeded);
  EXPECT_EQ(a0.started_at_ms, 10);
  EXPECT_EQ(a0.finished_at_ms, 15);
  EXPECT_EQ(a0.exit_code, 0);
  EXPECT_EQ(a0.stdout_tail, std::string("out\0put", 7));
  EXPECT_EQ(a0.stderr_tail, "warning: x");
  const AttemptRecord& a1 = attempts[1];
  EXPECT_EQ(a1.state, AttemptState::kFailed);
  EXPECT_EQ(a1.exit_code, 2);
  EXPECT_EQ(a1.signal, 9);
  EXPECT_TRUE(a1.timed_out);
  EXPECT_EQ(a1.error, "killed after 30s");
}

TEST_F(StoreTest, AttemptWithSameIdIsReplaced) {
  ASSERT_OK_AND_ASSIGN(GraphId id, Insert(MakeGraph("g", {MakeTask("a")})));
  StoreWrites w;
  w.attempts.push_back(Attempt(7, id, 0, 1, AttemptState::kRunning));
  w.tasks.push_back(Update(id, 0, TaskState::kRunning, 1, 7));
  ASSERT_OK(store_->Commit(w));
  ASSERT_OK_AND_ASSIGN(auto running, store_->RunningAttempts());
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].id, 7u);

  w.Clear();
  EXPECT_TRUE(w.empty());
  w.attempts.push_back(Attempt(7, id, 0, 1, AttemptState::kSucceeded));
  ASSERT_OK(store_->Commit(w));
  ASSERT_OK_AND_ASSIGN(auto all, store_->ReadAttempts(id, true));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state, AttemptState::kSucceeded);
  ASSERT_OK_AND_ASSIGN(running, store_->RunningAttempts());
  EXPECT_THAT(running, IsEmpty());
}

TEST_F(StoreTest, EmptyCommitIsOk) { EXPECT_OK(store_->Commit(StoreWrites{})); }

TEST_F(StoreTest, DuplicateRequestIdStoresNothingAndNamesExistingGraph) {
  ASSERT_OK_AND_ASSIGN(GraphId first,
                       Insert(MakeGraph("one", {MakeTask("a")}), "req-42"));
  absl::StatusOr<GraphId> second =
      Insert(MakeGraph("two", {MakeTask("x"), MakeTask("y")}), "req-42");
  EXPECT_CODE(second, absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(second.status().message(), absl::StrCat(first));

  ASSERT_OK_AND_ASSIGN(auto graphs, store_->ListGraphs(100));
  ASSERT_EQ(graphs.size(), 1u);
  EXPECT_EQ(graphs[0].first.name, "one");
  EXPECT_EQ(graphs[0].second.total(), 1);

  // The store still works after the refused insert (its transaction was
  // rolled back, not left open).
  ASSERT_OK_AND_ASSIGN(GraphId third, Insert(MakeGraph("three", {MakeTask("a")}),
                                             "req-43"));
  EXPECT_GT(third, first);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_OK_AND_ASSIGN(graphs, store_->ListGraphs(100));
  EXPECT_EQ(graphs.size(), 2u);
}

TEST_F(StoreTest, GraphsWithoutRequestIdDoNotCollide) {
  ASSERT_OK(Insert(MakeGraph("one", {MakeTask("a")})));
  ASSERT_OK(Insert(MakeGraph("two", {MakeTask("a")})));
  ASSERT_OK_AND_ASSIGN(auto graphs, store_->ListGraphs(100));
  EXPECT_EQ(graphs.size(), 2u);
  EXPECT_EQ(graphs[0].first.request_id, "");
}

TEST_F(StoreTest, FindByRequestId) {
  ASSERT_OK_AND_ASSIGN(GraphId a, Insert(MakeGraph("a", {MakeTask("a")}), "r-a"));
  ASSERT_OK_AND_ASSIGN(GraphId b, Insert(MakeGraph("b", {MakeTask("b")}), "r-b"));
  ASSERT_OK_AND_ASSIGN(GraphId found_a, store_->FindByRequestId("r-a"));
  ASSERT_OK_AND_ASSIGN(GraphId found_b, store_->FindByRequestId("r-b"));
  EXPECT_EQ(found_a, a);
  EXPECT_EQ(found_b, b);
  absl::StatusOr<GraphId> missing = store_->FindByRequestId("r-c");
  EXPECT_CODE(missing, absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("r-c"));
}

TEST_F(StoreTest, ListGraphsMostRecentFirstWithCounts) {
  ASSERT_OK_AND_ASSIGN(GraphId g1, Insert(MakeGraph("first", {MakeTask("a")})));
  ASSERT_OK_AND_ASSIGN(
      GraphId g2, Insert(MakeGraph("second", {MakeTask("a"), MakeTask("b", {"a"}),
                                              MakeTask("c", {"a"})})));
  ASSERT_OK_AND_ASSIGN(GraphId g3,
                       Insert(MakeGraph("third", {MakeTask("a"), MakeTask("b")})));
  StoreWrites w;
  w.tasks.push_back(Update(g2, 0, TaskState::kSucceeded, 1));
  w.tasks.push_back(Update(g2, 1, TaskState::kRunning, 1, 3));
  w.tasks.push_back(Update(g2, 2, TaskState::kReady, 0));
  w.tasks.push_back(Update(g1, 0, TaskState::kFailed, 1));
  w.graphs.push_back({g1, GraphState::kFailed, false, 99});
  ASSERT_OK(store_->Commit(w));

  ASSERT_OK_AND_ASSIGN(auto graphs, store_->ListGraphs(10));
  ASSERT_EQ(graphs.size(), 3u);
  EXPECT_EQ(graphs[0].first.id, g3);
  EXPECT_EQ(graphs[1].first.id, g2);
  EXPECT_EQ(graphs[2].first.id, g1);
  EXPECT_EQ(graphs[0].second.ready, 2);
  EXPECT_EQ(graphs[0].second.total(), 2);
  const TaskCounts& c2 = graphs[1].second;
  EXPECT_EQ(c2.succeeded, 1);
  EXPECT_EQ(c2.running, 1);
  EXPECT_EQ(c2.ready, 1);
  EXPECT_EQ(c2.total(), 3);
  EXPECT_EQ(graphs[2].first.state, GraphState::kFailed);
  EXPECT_EQ(graphs[2].first.finished_at_ms, 99);
  EXPECT_EQ(graphs[2].second.failed, 1);

  ASSERT_OK_AND_ASSIGN(auto two, store_->ListGraphs(2));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].first.id, g3);
  EXPECT_EQ(two[1].first.id, g2);
}

TEST_F(StoreTest, ListGraphsOfEmptyStore) {
  ASSERT_OK_AND_ASSIGN(auto graphs, store_->ListGraphs(10));
  EXPECT_THAT(graphs, IsEmpty());
}

TEST_F(StoreTest, ReadAttemptsAllOrLastPerTask) {
  ASSERT_OK_AND_ASSIGN(GraphId id,
                       Insert(MakeGraph("g", {MakeTask("a"), MakeTask("b")})));
  ASSERT_OK_AND_ASSIGN(GraphId other, Insert(MakeGraph("o", {MakeTask("a")})));
  StoreWrites w;
  // Committed out of order, to check the read order.
  w.attempts.push_back(Attempt(5, id, 1, 2, AttemptState::kRunning));
  w.attempts.push_back(Attempt(1, id, 0, 1, AttemptState::kLost));
  w.attempts.push_back(Attempt(3, id, 1, 1, AttemptState::kFailed));
  w.attempts.push_back(Attempt(2, id, 0, 2, AttemptState::kFailed));
  w.attempts.push_back(Attempt(4, id, 0, 3, AttemptState::kSucceeded));
  w.attempts.push_back(Attempt(6, other, 0, 1, AttemptState::kRunning));
  ASSERT_OK(store_->Commit(w));

  auto ids = [](const std::vector<AttemptRecord>& v) {
    std::vector<AttemptId> out;
    for (const auto& a : v) out.push_back(a.id);
    return out;
  };
  ASSERT_OK_AND_ASSIGN(auto all, store_->ReadAttempts(id, true));
  EXPECT_THAT(ids(all), ElementsAre(1u, 2u, 4u, 3u, 5u));
  ASSERT_OK_AND_ASSIGN(auto last, store_->ReadAttempts(id, false));
  EXPECT_THAT(ids(last), ElementsAre(4u, 5u));
  ASSERT_OK_AND_ASSIGN(auto none, store_->ReadAttempts(999, true));
  EXPECT_THAT(none, IsEmpty());
}

TEST_F(StoreTest, RunningAttemptsAndMaxAttemptId) {
  ASSERT_OK_AND_ASSIGN(AttemptId max0, store_->MaxAttemptId());
  EXPECT_EQ(max0, 0u);
  ASSERT_OK_AND_ASSIGN(auto running0, store_->RunningAttempts());
  EXPECT_THAT(running0, IsEmpty());

  ASSERT_OK_AND_ASSIGN(GraphId g1, Insert(MakeGraph("g1", {MakeTask("a")})));
  ASSERT_OK_AND_ASSIGN(GraphId g2,
                       Insert(MakeGraph("g2", {MakeTask("a"), MakeTask("b")})));
  StoreWrites w;
  w.attempts.push_back(Attempt(12, g2, 1, 1, AttemptState::kRunning));
  w.attempts.push_back(Attempt(40, g1, 0, 1, AttemptState::kSucceeded));
  w.attempts.push_back(Attempt(11, g2, 0, 1, AttemptState::kRunning));
  w.attempts.push_back(Attempt(13, g1, 0, 2, AttemptState::kLost));
  ASSERT_OK(store_->Commit(w));

  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_OK_AND_ASSIGN(AttemptId max, store_->MaxAttemptId());
  EXPECT_EQ(max, 40u);
  ASSERT_OK_AND_ASSIGN(auto running, store_->RunningAttempts());
  ASSERT_EQ(running.size(), 2u);
  EXPECT_EQ(running[0].id, 11u);
  EXPECT_EQ(running[0].graph_id, g2);
  EXPECT_EQ(running[0].task_index, 0);
  EXPECT_EQ(running[1].id, 12u);
  EXPECT_EQ(running[1].task_index, 1);
}

TEST_F(StoreTest, ForEachRunningGraphSkipsFinishedOldestFirst) {
  ASSERT_OK_AND_ASSIGN(GraphId g1, Insert(MakeGraph("g1", {MakeTask("a")})));
  ASSERT_OK_AND_ASSIGN(GraphId g2, Insert(MakeGraph("g2", {MakeTask("a")})));
  ASSERT_OK_AND_ASSIGN(GraphId g3, Insert(RichSpec()));
  ASSERT_OK_AND_ASSIGN(GraphId g4, Insert(MakeGraph("g4", {MakeTask("a")})));
  StoreWrites w;
  w.graphs.push_back({g2, GraphState::kSucceeded, false, 1});
  w.graphs.push_back({g4, GraphState::kCancelled, true, 1});
  w.tasks.push_back(Update(g3, 0, TaskState::kRunning, 1, 77));
  ASSERT_OK(store_->Commit(w));
  ASSERT_NO_FATAL_FAILURE(Reopen());

  std::vector<GraphId> seen;
  ASSERT_OK(store_->ForEachRunningGraph([&](StoredGraph g) {
    seen.push_back(g.record.id);
    if (g.record.id == g3) {
      GraphSpec expected = RichSpec();
      EXPECT_EQ(g.spec.tasks.size(), expected.tasks.size());
      for (size_t i = 0; i < g.spec.tasks.size(); ++i) {
        EXPECT_EQ(g.spec.tasks[i], expected.tasks[i]);
      }
      EXPECT_EQ(g.dag.size(), 3u);
      EXPECT_EQ(g.tasks[0].state, TaskState::kRunning);
      EXPECT_EQ(g.tasks[0].current_attempt, 77u);
    }
    return absl::OkStatus();
  }));
  EXPECT_THAT(seen, ElementsAre(g1, g3));

  // An error from the callback stops the walk and is returned.
  int calls = 0;
  absl::Status stopped = store_->ForEachRunningGraph([&](StoredGraph) {
    ++calls;
    return absl::InternalError("stop");
  });
  EXPECT_EQ(stopped, absl::InternalError("stop"));
  EXPECT_EQ(calls, 1);
}

TEST_F(StoreTest, SecondOpenWhileOpenFailsAsInUse) {
  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(path_);
  EXPECT_CODE(second, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use"));
  // The first store is unaffected, and once closed the file opens again.
  EXPECT_OK(Insert(MakeGraph("g", {MakeTask("a")})));
  store_.reset();
  absl::StatusOr<std::unique_ptr<Store>> third = Store::Open(path_);
  ASSERT_OK(third);
  ASSERT_OK_AND_ASSIGN(auto graphs, (*third)->ListGraphs(10));
  EXPECT_EQ(graphs.size(), 1u);
}

TEST_F(StoreTest, JournalModeIsWal) {
  ASSERT_OK_AND_ASSIGN(auto db, sql::Database::Open(path_));
  ASSERT_OK_AND_ASSIGN(sql::Statement s, db->Prepare("PRAGMA journal_mode"));
  ASSERT_OK_AND_ASSIGN(bool row, s.Step());
  ASSERT_TRUE(row);
  EXPECT_EQ(s.ColumnText(0), "wal");
  ASSERT_OK_AND_ASSIGN(int64_t version, db->QueryInt("PRAGMA user_version"));
  EXPECT_EQ(version, Store::kSchemaVersion);
}

TEST_F(StoreTest, CorruptDependencyBlobIsDataLoss) {
  ASSERT_OK_AND_ASSIGN(GraphId id,
                       Insert(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"})})));
  store_.reset();
  {
    // Point b's dependency at a task index that does not exist.
    ASSERT_OK_AND_ASSIGN(auto db, sql::Database::Open(path_));
    ASSERT_OK_AND_ASSIGN(
        sql::Statement s,
        db->Prepare("UPDATE tasks SET deps = ?1 WHERE graph_id = ?2 AND idx = 1"));
    std::vector<int32_t> bad = {5};
    s.BindBlob(1, codec::EncodeInts(bad)).Bind(2, id);
    ASSERT_OK(s.Run());
  }
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_CODE(store_->ReadGraph(id), absl::StatusCode::kDataLoss);
}

class StoreOpenTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(StoreOpenTest, NewerSchemaVersionIsRefused) {
  const std::string path = dir_.File("future.db");
  {
    ASSERT_OK_AND_ASSIGN(auto db, sql::Database::Open(path));
    ASSERT_OK(db->Execute("CREATE TABLE t (x INTEGER); PRAGMA user_version = 99"));
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path);
  EXPECT_CODE(store, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("99"));
  // The refused file is left as it was.
  ASSERT_OK_AND_ASSIGN(auto db, sql::Database::Open(path));
  ASSERT_OK_AND_ASSIGN(int64_t version, db->QueryInt("PRAGMA user_version"));
  EXPECT_EQ(version, 99);
  // And the lock was released with the refused store.
  absl::StatusOr<std::unique_ptr<Store>> again = Store::Open(path);
  EXPECT_CODE(again, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("99"));
}

// The schema as version 1 shipped it (first entry of kMigrations in
// store.cc), frozen here: the upgrade must work from what old daemons
// wrote, whatever store.cc says today.
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE graphs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  request_id TEXT UNIQUE,
  state INTEGER NOT NULL,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE tasks (
  graph_id INTEGER NOT NULL REFERENCES graphs(id),
  idx INTEGER NOT NULL,
  task_id TEXT NOT NULL,
  command BLOB NOT NULL,
  deps BLOB NOT NULL,
  env BLOB NOT NULL,
  cwd TEXT NOT NULL,
  priority INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  timeout_s INTEGER NOT NULL,
  labels BLOB NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  skipped_because INTEGER NOT NULL DEFAULT -1,
  current_attempt INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (graph_id, idx)
) WITHOUT ROWID;
CREATE TABLE attempts (
  id INTEGER PRIMARY KEY,
  graph_id INTEGER NOT NULL,
  task_idx INTEGER NOT NULL,
  number INTEGER NOT NULL,
  worker TEXT NOT NULL,
  session_id INTEGER NOT NULL,
  state INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER NOT NULL DEFAULT -1,
  signal INTEGER NOT NULL DEFAULT 0,
  timed_out INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  stdout_tail BLOB NOT NULL DEFAULT x'',
  stderr_tail BLOB NOT NULL DEFAULT x''
);
CREATE INDEX attempts_by_task ON attempts (graph_id, task_idx, number);
CREATE INDEX attempts_running ON attempts (state) WHERE state = 1;
CREATE INDEX graphs_running ON graphs (state) WHERE state = 1;
PRAGMA user_version = 1;
)sql";

TEST_F(StoreOpenTest, Version1DatabaseIsUpgradedAndKeepsItsData) {
  const std::string path = dir_.File("v1.db");
  {
    // A running graph as a version-1 daemon left it: "build" (after
    // "fetch", which succeeded) has a running attempt.
    ASSERT_OK_AND_ASSIGN(auto db, sql::Database::Open(path));
    ASSERT_OK(db->Execute(kSchemaV1));
    ASSERT_OK(db->Execute(
        "INSERT INTO graphs (id, name, request_id, state, created_ms) "
        "VALUES (7, 'old', 'req-old', 1, 1234)"));
    ASSERT_OK_AND_ASSIGN(
        sql::Statement task,
        db->Prepare("INSERT INTO tasks (graph_id, idx, task_id, command, "
                    "deps, env, cwd, priority, max_attempts, timeout_s, "
                    "labels, state, attempts, failures, skipped_because, "
                    "current_attempt) VALUES (7, ?1, ?2, ?3, ?4, ?5, '/src', "
                    "2, 3, 60, ?6, ?7, 1, ?8, -1, ?9)"));
    struct Row {
      std::string id;
      std::vector<int32_t> deps;
      TaskState state;
      int64_t failures;
      int64_t current_attempt;
    };
    for (int i = 0; const Row& r :
         {Row{"fetch", {}, TaskState::kSucceeded, 0, 0},
          Row{"build", {0}, TaskState::kRunning, 1, 11}}) {
      task.Bind(1, int64_t{i++})
          .Bind(2, r.id)
          .BindBlob(3, codec::EncodeStrings({"make", r.id}))
          .BindBlob(4, codec::EncodeInts(r.deps))
          .BindBlob(5, codec::EncodeMap({{"CC", "cc"}}))
          .BindBlob(6, codec::EncodeMap({{"os", "linux"}}))
          .Bind(7, static_cast<int64_t>(r.state))
          .Bind(8, r.failures)
          .Bind(9, r.current_attempt);
      ASSERT_OK(task.Run());
    }
    ASSERT_OK(db->Execute(
        "INSERT INTO attempts (id, graph_id, task_idx, number, worker, "
        "session_id, state, started_ms) VALUES (11, 7, 1, 1, 'w1', 99, 1, "
        "2000)"));
  }

  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(path));
  ASSERT_OK_AND_ASSIGN(StoredGraph g, store->ReadGraph(7));
  EXPECT_EQ(g.record.name, "old");
  EXPECT_EQ(g.record.request_id, "req-old");
  EXPECT_EQ(g.record.state, GraphState::kRunning);
  ASSERT_EQ(g.spec.tasks.size(), 2u);
  EXPECT_EQ(g.spec.tasks[1].id, "build");
  EXPECT_THAT(g.spec.tasks[1].deps, ElementsAre("fetch"));
  EXPECT_THAT(g.spec.tasks[1].command, ElementsAre("make", "build"));
  EXPECT_EQ(g.spec.tasks[1].max_attempts, 3);
  EXPECT_EQ(g.spec.tasks[1].labels,
            (std::map<std::string, std::string>{{"os", "linux"}}));
  ASSERT_EQ(g.tasks.size(), 2u);
  EXPECT_EQ(g.tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(g.tasks[1].state, TaskState::kRunning);
  EXPECT_EQ(g.tasks[1].failures, 1);
  EXPECT_EQ(g.tasks[1].current_attempt, 11u);
  EXPECT_EQ(g.tasks[0].lost, 0);
  EXPECT_EQ(g.tasks[1].lost, 0);
  ASSERT_OK_AND_ASSIGN(std::vector<AttemptRecord> running,
                       store->RunningAttempts());
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].id, 11u);
  EXPECT_EQ(running[0].worker, "w1");
  ASSERT_OK_AND_ASSIGN(AttemptId max_id, store->MaxAttemptId());
  EXPECT_EQ(max_id, 11u);

  // The new column takes writes, and the file now says version 2.
  StoreWrites w;
  StoreWrites::TaskUpdate u{7, 1, g.tasks[1]};
  u.status.state = TaskState::kReady;
  u.status.current_attempt = 0;
  u.status.lost = 1;
  w.tasks.push_back(u);
  ASSERT_OK(store->Commit(w));
  store.reset();
  {
    ASSERT_OK_AND_ASSIGN(auto db, sql::Database::Open(path));
    ASSERT_OK_AND_ASSIGN(int64_t version, db->QueryInt("PRAGMA user_version"));
    EXPECT_EQ(version, Store::kSchemaVersion);
  }
  ASSERT_OK_AND_ASSIGN(store, Store::Open(path));
  ASSERT_OK_AND_ASSIGN(g, store->ReadGraph(7));
  EXPECT_EQ(g.tasks[1].lost, 1);
  EXPECT_EQ(g.tasks[1].state, TaskState::kReady);
}

// Version 2 added tasks.lost to version 1 (second entry of kMigrations),
// frozen here like kSchemaV1.
constexpr char kSchemaV2Delta[] = R"sql(
ALTER TABLE tasks ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;
PRAGMA user_version = 2;
)sql";

TEST_F(StoreOpenTest, Version2DatabaseIsUpgradedAndTakesOutput) {
  const std::string path = dir_.File("v2.db");
  {
    // A finished graph as a version-2 daemon left it: "build" succeeded,
    // its worker's tail says it dropped the first 5 bytes.
    ASSERT_OK_AND_ASSIGN(auto db, sql::Database::Open(path));
    ASSERT_OK(db->Execute(kSchemaV1));
    ASSERT_OK(db->Execute(kSchemaV2Delta));
    ASSERT_OK(db->Execute(
        "INSERT INTO graphs (id, name, state, created_ms, finished_ms) "
        "VALUES (7, 'old', 2, 1000, 2000)"));
    ASSERT_OK_AND_ASSIGN(
        sql::Statement task,
        db->Prepare("INSERT INTO tasks (graph_id, idx, task_id, command, "
                    "deps, env, cwd, priority, max_attempts, timeout_s, "
                    "labels, state, attempts) VALUES (7, 0, 'build', ?1, ?2, "
                    "?3, '', 0, 1, 0, ?3, 4, 1)"));
    task.BindBlob(1, codec::EncodeStrings({"make"}))
        .BindBlob(2, codec::EncodeInts({}))
        .BindBlob(3, codec::EncodeMap({}));
    ASSERT_OK(task.Run());
    ASSERT_OK(db->Execute(
        "INSERT INTO attempts (id, graph_id, task_idx, number, worker, "
        "session_id, state, started_ms, finished_ms, exit_code, stdout_tail) "
        "VALUES (11, 7, 0, 1, 'w1', 99, 2, 1500, 1900, 0, "
        "CAST('[... 5 bytes truncated ...]' || char(10) || 'hello' AS BLOB))"));
  }

  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(path));
  OutputQuery q;
  q.graph_id = 7;
  q.task_id = "build";
  ASSERT_OK_AND_ASSIGN(AttemptOutput old, store->ReadAttemptOutput(q));
  EXPECT_EQ(old.attempt.id, 11u);
  EXPECT_EQ(old.attempt.state, AttemptState::kSucceeded);
  EXPECT_EQ(old.attempt.stdout_tail, "[... 5 bytes truncated ...]\nhello");
  EXPECT_EQ(old.attempt.stdout_bytes, 0u);  // not counted back then
  EXPECT_THAT(old.chunks[0], IsEmpty());

  // The new table and columns take writes.
  StoreWrites w;
  AttemptRecord a;
  a.id = 12;
  a.graph_id = 7;
  a.number = 2;
  a.worker = "w2";
  a.state = AttemptState::kSucceeded;
  a.stdout_bytes = 6;
  a.stderr_bytes = 3;
  w.attempts.push_back(a);
  w.output.push_back({12, OutputStream::kStdout, 0, "abc"});
  w.output.push_back({12, OutputStream::kStdout, 3, "def"});
  w.output.push_back({12, OutputStream::kStderr, 0, "err"});
  w.output.push_back({12, OutputStream::kStdout, 3, "resent"});  // ignored
  ASSERT_OK(store->Commit(w));
  store.reset();
  {
    ASSERT_OK_AND_ASSIGN(auto db, sql::Database::Open(path));
    ASSERT_OK_AND_ASSIGN(int64_t version, db->QueryInt("PRAGMA user_version"));
    EXPECT_EQ(version, Store::kSchemaVersion);
  }
  ASSERT_OK_AND_ASSIGN(store, Store::Open(path));
  ASSERT_OK_AND_ASSIGN(AttemptOutput latest, store->ReadAttemptOutput(q));
  EXPECT_EQ(latest.attempt.id, 12u);
  EXPECT_EQ(latest.attempt.stdout_bytes, 6u);
  EXPECT_EQ(latest.attempt.stderr_bytes, 3u);
  ASSERT_EQ(latest.chunks[0].size(), 2u);
  EXPECT_EQ(latest.chunks[0][0].data, "abc");
  EXPECT_EQ(latest.chunks[0][1].offset, 3u);
  EXPECT_EQ(latest.chunks[0][1].data, "def");
  ASSERT_EQ(latest.chunks[1].size(), 1u);
  EXPECT_EQ(latest.chunks[1][0].data, "err");
  // From an offset on: chunks that end before it are left out.
  q.from[0] = 4;
  q.read[1] = false;
  ASSERT_OK_AND_ASSIGN(AttemptOutput from, store->ReadAttemptOutput(q));
  ASSERT_EQ(from.chunks[0].size(), 1u);
  EXPECT_EQ(from.chunks[0][0].data, "def");
  EXPECT_THAT(from.chunks[1], IsEmpty());
  // Attempt 1 by its number; attempt 3 does not exist.
  q.number = 1;
  ASSERT_OK_AND_ASSIGN(AttemptOutput first, store->ReadAttemptOutput(q));
  EXPECT_EQ(first.attempt.id, 11u);
  q.number = 3;
  EXPECT_CODE(store->ReadAttemptOutput(q), absl::StatusCode::kNotFound);
}

TEST_F(StoreOpenTest, GarbageFileIsDataLoss) {
  const std::string path = dir_.File("garbage.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 512; ++i) out << "this is not a database\n";
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path);
  EXPECT_CODE(store, absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
}

TEST_F(StoreOpenTest, MissingDirectoryIsAnErrorNotACrash) {
  absl::StatusOr<std::unique_ptr<Store>> store =
      Store::Open(dir_.File("no/such/dir/vitte.db"));
  EXPECT_FALSE(store.ok());
}

TEST_F(StoreOpenTest, NormalSynchronousModeStillPersists) {
  const std::string path = dir_.File("normal.db");
  GraphSpec spec = MakeGraph("g", {MakeTask("a")});
  ASSERT_OK_AND_ASSIGN(Dag dag, ValidateGraphSpec(spec));
  GraphId id = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto store,
                         Store::Open(path, StoreOptions{.synchronous_full = false}));
    GraphRecord record;
    record.name = "g";
    ASSERT_OK_AND_ASSIGN(id, store->InsertGraph(record, spec, dag,
                                                std::vector<TaskStatus>(1)));
  }
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(path));
  ASSERT_OK_AND_ASSIGN(StoredGraph g, store->ReadGraph(id));
  EXPECT_EQ(g.spec.tasks[0], spec.tasks[0]);
}

}  // namespace
}  // namespace vitte::task
