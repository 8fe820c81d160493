#include "coordinator/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/codec.h"
#include "common/status_macros.h"

namespace vitte::task {
namespace {

// Schema migrations, applied in order at open. Entry i takes user_version i
// to i + 1. Append only: a released entry never changes.
constexpr const char* kMigrations[] = {
    // 0 -> 1: initial schema.
    R"sql(
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
)sql",
    // 1 -> 2: attempts lost with their worker, counted apart from failures
    // (bounded separately, against poison tasks).
    R"sql(
ALTER TABLE tasks ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;
)sql",
    // 2 -> 3: event sequence numbers of the last change of each task and
    // graph, so that followers resume after a restart (FollowEvents).
    R"sql(
ALTER TABLE tasks ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE graphs ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3 -> 4: task output. Attempts get the byte counts of their result;
    // output_chunks keeps the head of each stream as workers stream it
    // (stream: 1 stdout, 2 stderr).
    R"sql(
ALTER TABLE attempts ADD COLUMN stdout_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN stderr_bytes INTEGER NOT NULL DEFAULT 0;
CREATE TABLE output_chunks (
  attempt_id INTEGER NOT NULL,
  stream INTEGER NOT NULL,
  byte_offset INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (attempt_id, stream, byte_offset)
) WITHOUT ROWID;
)sql",
    // 4 -> 5: earlier runs of a graph, by name, for estimates
    // (Store::PastDurations).
    R"sql(
CREATE INDEX graphs_by_name ON graphs (name, id);
)sql",
    // 5 -> 6: the graphs changed after an event (Store::ReadChangesSince)
    // and the last event (MaxEventSequence) without a scan of every graph.
    R"sql(
CREATE INDEX graphs_by_sequence ON graphs (sequence);
)sql",
    // 6 -> 7: bearer tokens (see coordinator/token_store.h), and the name of
    // the token that submitted each graph ('' without tokens).
    R"sql(
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  secret_sha256 BLOB NOT NULL,
  created_ms INTEGER NOT NULL,
  revoked_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE UNIQUE INDEX tokens_active_by_name ON tokens (name) WHERE revoked_ms = 0;
ALTER TABLE graphs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
)sql",
};
static_assert(std::size(kMigrations) == Store::kSchemaVersion);

constexpr char kTaskColumns[] =
    "idx, task_id, command, deps, env, cwd, priority, max_attempts, "
    "timeout_s, labels, state, attempts, failures, skipped_because, "
    "current_attempt, lost, sequence";
constexpr char kAttemptColumns[] =
    "id, graph_id, task_idx, number, worker, session_id, state, started_ms, "
    "finished_ms, exit_code, signal, timed_out, error, stdout_tail, "
    "stderr_tail, stdout_bytes, stderr_bytes";
constexpr char kGraphColumns[] =
    "id, name, COALESCE(request_id, ''), state, cancel_requested, "
    "created_ms, finished_ms, sequence, owner";

absl::Status ConfigureConnection(sql::Database& db, StoreOptions options) {
  // A reader waits briefly for a writer's checkpoint instead of failing.
  RETURN_IF_ERROR(db.Execute("PRAGMA busy_timeout = 5000"));
  RETURN_IF_ERROR(db.Execute("PRAGMA foreign_keys = ON"));
  return db.Execute(options.synchronous_full ? "PRAGMA synchronous = FULL"
                                             : "PRAGMA synchronous = NORMAL");
}

GraphRecord ReadGraphRow(const sql::Statement& s) {
  GraphRecord r;
  r.id = s.ColumnInt(0);
  r.name = s.ColumnText(1);
  r.request_id = s.ColumnText(2);
  r.state = static_cast<GraphState>(s.ColumnInt(3));
  r.cancel_requested = s.ColumnInt(4) != 0;
  r.created_at_ms = s.ColumnInt(5);
  r.finished_at_ms = s.ColumnInt(6);
  r.owner = s.ColumnText(8);
  r.sequence = s.ColumnInt(7);
  return r;
}

// Reads kAttemptColumns starting at column `first_column`.
AttemptRecord ReadAttemptRow(const sql::Statement& s, int first_column = 0) {
  auto col = [&](int i) { return first_column + i; };
  AttemptRecord a;
  a.id = s.ColumnInt(col(0));
  a.graph_id = s.ColumnInt(col(1));
  a.task_index = static_cast<int32_t>(s.ColumnInt(col(2)));
  a.number = static_cast<int32_t>(s.ColumnInt(col(3)));
  a.worker = s.ColumnText(col(4));
  a.session_id = s.ColumnInt(col(5));
  a.state = static_cast<AttemptState>(s.ColumnInt(col(6)));
  a.started_at_ms = s.ColumnInt(col(7));
  a.finished_at_ms = s.ColumnInt(col(8));
  a.exit_code = static_cast<int32_t>(s.ColumnInt(col(9)));
  a.signal = static_cast<int32_t>(s.ColumnInt(col(10)));
  a.timed_out = s.ColumnInt(col(11)) != 0;
  a.error = s.ColumnText(col(12));
  a.stdout_tail = s.ColumnBlob(col(13));
  a.stderr_tail = s.ColumnBlob(col(14));
  a.stdout_bytes = static_cast<uint64_t>(s.ColumnInt(col(15)));
  a.stderr_bytes = static_cast<uint64_t>(s.ColumnInt(col(16)));
  return a;
}

absl::StatusOr<std::vector<AttemptRecord>> CollectAttempts(sql::Statement& s) {
  std::vector<AttemptRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadAttemptRow(s));
  }
  return out;
}

}  // namespace

// Statements of the write connection, prepared once.
struct Store::Statements {
  sql::Statement insert_graph;
  sql::Statement insert_task;
  sql::Statement update_task;
  sql::Statement upsert_attempt;
  sql::Statement update_graph;
  sql::Statement insert_chunk;
};

Store::Store(std::string path, int lock_fd)
    : path_(std::move(path)), lock_fd_(lock_fd) {}

Store::~Store() {
  {
    absl::MutexLock w(&write_mu_);
    write_stmts_.reset();
    writer_.reset();
  }
  {
    absl::MutexLock r(&read_mu_);
    reader_.reset();
  }
  close(lock_fd_);  // releases the flock
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path,
                                                   StoreOptions options) {
  // SQLite's own locks do not stop a second daemon from opening the file and
  // scheduling the same graphs; an exclusive flock on a side file does, and
  // is released by the kernel if the holder dies.
  std::string lock_path = path + ".lock";
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot open lock file \"", lock_path, "\": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database \"", path, "\" is in use by another vitte-taskd"));
    }
    return absl::UnavailableError(absl::StrCat(
        "cannot lock \"", lock_path, "\": ", std::strerror(err)));
  }
  std::unique_ptr<Store> store(new Store(path, fd));
  RETURN_IF_ERROR(store->Init(options));
  return store;
}

absl::Status Store::Init(StoreOptions options) {
  absl::MutexLock w(&write_mu_);
  ASSIGN_OR_RETURN(writer_, sql::Database::Open(path_));
  sql::Database& db = *writer_;
  // Reading the schema version also tells a non-database file apart.
  absl::StatusOr<int64_t> version = db.QueryInt("PRAGMA user_version");
  if (!version.ok()) {
    return absl::DataLossError(absl::StrCat(
        "\"", path_, "\" is not a vitte-task database: ",
        version.status().message()));
  }
  if (*version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database \"", path_, "\" has schema version ", *version,
        ", newer than this vitte-taskd understands (", kSchemaVersion,
        "); upgrade vitte-taskd"));
  }
  ASSIGN_OR_RETURN(std::string mode,
                   [&]() -> absl::StatusOr<std::string> {
                     ASSIGN_OR_RETURN(auto s,
                                      db.Prepare("PRAGMA journal_mode = WAL"));
                     ASSIGN_OR_RETURN(bool row, s.Step());
                     return row ? s.ColumnText(0) : std::string();
                   }());
  if (mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot put \"", path_, "\" in WAL mode (got \"", mode, "\")"));
  }
  RETURN_IF_ERROR(ConfigureConnection(db, options));
  for (int64_t v = *version; v < kSchemaVersion; ++v) {
    sql::Transaction txn(db);
    RETURN_IF_ERROR(txn.begin_status());
    RETURN_IF_ERROR(db.Execute(kMigrations[v]));
    RETURN_IF_ERROR(db.Execute(absl::StrCat("PRAGMA user_version = ", v + 1)));
    RETURN_IF_ERROR(txn.Commit());
  }

  auto stmts = std::make_unique<Statements>();
  ASSIGN_OR_RETURN(stmts->insert_graph,
                   db.Prepare("INSERT INTO graphs (id, name, request_id, "
                              "state, created_ms, sequence, owner) VALUES "
                              "(?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  ASSIGN_OR_RETURN(stmts->insert_task,
                   db.Prepare(absl::StrCat(
                       "INSERT INTO tasks (graph_id, ", kTaskColumns,
                       ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                       "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)")));
  ASSIGN_OR_RETURN(
      stmts->update_task,
      db.Prepare("UPDATE tasks SET state = ?3, attempts = ?4, failures = ?5, "
                 "skipped_because = ?6, current_attempt = ?7, lost = ?8, "
                 "sequence = ?9 "
                 "WHERE graph_id = ?1 AND idx = ?2"));
  ASSIGN_OR_RETURN(stmts->upsert_attempt,
                   db.Prepare(absl::StrCat(
                       "INSERT INTO attempts (", kAttemptColumns,
                       ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                       "?11, ?12, ?13, ?14, ?15, ?16, ?17) ON CONFLICT (id) "
                       "DO UPDATE SET worker = ?5, session_id = ?6, "
                       "state = ?7, finished_ms = ?9, exit_code = ?10, "
                       "signal = ?11, timed_out = ?12, error = ?13, "
                       "stdout_tail = ?14, stderr_tail = ?15, "
                       "stdout_bytes = ?16, stderr_bytes = ?17")));
  ASSIGN_OR_RETURN(stmts->update_graph,
                   db.Prepare("UPDATE graphs SET state = ?2, "
                              "cancel_requested = ?3, finished_ms = ?4, "
                              "sequence = ?5 WHERE id = ?1"));
  // A chunk sent twice (a resend after a reconnect) is kept once.
  ASSIGN_OR_RETURN(stmts->insert_chunk,
                   db.Prepare("INSERT OR IGNORE INTO output_chunks "
                              "(attempt_id, stream, byte_offset, data) "
                              "VALUES (?1, ?2, ?3, ?4)"));
  write_stmts_ = std::move(stmts);

  absl::MutexLock r(&read_mu_);
  ASSIGN_OR_RETURN(reader_, sql::Database::Open(path_));
  return ConfigureConnection(*reader_, options);
}

absl::StatusOr<GraphId> Store::InsertGraph(
    const GraphRecord& record, const GraphSpec& spec, const Dag& dag,
    const std::vector<TaskStatus>& initial) {
  absl::MutexLock w(&write_mu_);
  sql::Database& db = *writer_;
  sql::Transaction txn(db);
  RETURN_IF_ERROR(txn.begin_status());
  // Checked inside the transaction, so two racing submits with one request
  // id cannot both insert.
  if (!record.request_id.empty()) {
    ASSIGN_OR_RETURN(auto find, db.Prepare("SELECT id FROM graphs WHERE "
                                           "request_id = ?1"));
    find.Bind(1, record.request_id);
    ASSIGN_OR_RETURN(bool row, find.Step());
    if (row) return absl::AlreadyExistsError(absl::StrCat(find.ColumnInt(0)));
  }
  GraphRecord stored = record;
  ASSIGN_OR_RETURN(stored.id,
                   db.QueryInt("SELECT COALESCE(MAX(id), 0) + 1 FROM graphs"));
  RETURN_IF_ERROR(InsertGraphRows(stored, spec, dag,
                                  [&](size_t i) { return initial[i]; }));
  RETURN_IF_ERROR(txn.Commit());
  return stored.id;
}

absl::Status Store::InsertGraphRows(
    const GraphRecord& record, const GraphSpec& spec, const Dag& dag,
    absl::FunctionRef<TaskStatus(size_t)> initial) {
  Statements& st = *write_stmts_;
  st.insert_graph.Bind(1, record.id).Bind(2, record.name);
  if (record.request_id.empty()) {
    st.insert_graph.BindNull(3);
  } else {
    st.insert_graph.Bind(3, record.request_id);
  }
  st.insert_graph.Bind(4, static_cast<int64_t>(record.state))
      .Bind(5, record.created_at_ms)
      .Bind(6, static_cast<int64_t>(record.sequence))
      .Bind(7, record.owner);
  RETURN_IF_ERROR(st.insert_graph.Run());

  sql::Statement& ins = st.insert_task;
  const std::string empty_map = codec::EncodeMap({});
  for (size_t i = 0; i < spec.tasks.size(); ++i) {
    const TaskSpec& t = spec.tasks[i];
    const TaskStatus s = initial(i);
    ins.Bind(1, record.id)
        .Bind(2, static_cast<int64_t>(i))
        .Bind(3, t.id)
        .BindBlob(4, codec::EncodeStrings(t.command))
        .BindBlob(5, codec::EncodeInts(dag.deps(i)))
        .BindBlob(6, t.env.empty() ? empty_map : codec::EncodeMap(t.env))
        .Bind(7, t.cwd)
        .Bind(8, int64_t{t.priority})
        .Bind(9, int64_t{t.max_attempts})
        .Bind(10, t.timeout_s)
        .BindBlob(11, t.labels.empty() ? empty_map : codec::EncodeMap(t.labels))
        .Bind(12, static_cast<int64_t>(s.state))
        .Bind(13, int64_t{s.attempts})
        .Bind(14, int64_t{s.failures})
        .Bind(15, int64_t{s.skipped_because})
        .Bind(16, static_cast<int64_t>(s.current_attempt))
        .Bind(17, int64_t{s.lost})
        .Bind(18, static_cast<int64_t>(s.sequence));
    RETURN_IF_ERROR(ins.Run());
  }
  return absl::OkStatus();
}

absl::Status Store::Commit(const StoreWrites& writes) {
  if (writes.empty()) return absl::OkStatus();
  absl::MutexLock w(&write_mu_);
  Statements& st = *write_stmts_;
  sql::Transaction txn(*writer_);
  RETURN_IF_ERROR(txn.begin_status());
  for (const StoreWrites::NewGraph& g : writes.new_graphs) {
    const Dag& dag = *g.dag;
    RETURN_IF_ERROR(InsertGraphRows(g.record, *g.spec, dag, [&](size_t i) {
      TaskStatus s;
      s.state = dag.deps(i).empty() ? TaskState::kReady : TaskState::kPending;
      s.sequence = g.record.sequence;  // the graph's submission
      return s;
    }));
  }
  for (const AttemptRecord& a : writes.attempts) {
    st.upsert_attempt.Bind(1, static_cast<int64_t>(a.id))
        .Bind(2, a.graph_id)
        .Bind(3, int64_t{a.task_index})
        .Bind(4, int64_t{a.number})
        .Bind(5, a.worker)
        .Bind(6, static_cast<int64_t>(a.session_id))
        .Bind(7, static_cast<int64_t>(a.state))
        .Bind(8, a.started_at_ms)
        .Bind(9, a.finished_at_ms)
        .Bind(10, int64_t{a.exit_code})
        .Bind(11, int64_t{a.signal})
        .Bind(12, int64_t{a.timed_out})
        .Bind(13, a.error)
        .BindBlob(14, a.stdout_tail)
        .BindBlob(15, a.stderr_tail)
        .Bind(16, static_cast<int64_t>(a.stdout_bytes))
        .Bind(17, static_cast<int64_t>(a.stderr_bytes));
    RETURN_IF_ERROR(st.upsert_attempt.Run());
  }
  for (const OutputChunk& c : writes.output) {
    st.insert_chunk.Bind(1, static_cast<int64_t>(c.attempt_id))
        .Bind(2, static_cast<int64_t>(c.stream))
        .Bind(3, static_cast<int64_t>(c.offset))
        .BindBlob(4, c.data);
    RETURN_IF_ERROR(st.insert_chunk.Run());
  }
  for (const auto& t : writes.tasks) {
    st.update_task.Bind(1, t.graph_id)
        .Bind(2, int64_t{t.task_index})
        .Bind(3, static_cast<int64_t>(t.status.state))
        .Bind(4, int64_t{t.status.attempts})
        .Bind(5, int64_t{t.status.failures})
        .Bind(6, int64_t{t.status.skipped_because})
        .Bind(7, static_cast<int64_t>(t.status.current_attempt))
        .Bind(8, int64_t{t.status.lost})
        .Bind(9, static_cast<int64_t>(t.status.sequence));
    RETURN_IF_ERROR(st.update_task.Run());
  }
  for (const auto& g : writes.graphs) {
    st.update_graph.Bind(1, g.graph_id)
        .Bind(2, static_cast<int64_t>(g.state))
        .Bind(3, int64_t{g.cancel_requested})
        .Bind(4, g.finished_at_ms)
        .Bind(5, static_cast<int64_t>(g.sequence));
    RETURN_IF_ERROR(st.update_graph.Run());
  }
  RETURN_IF_ERROR(txn.Commit());
  commits_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<GraphId> Store::FindByRequestId(const std::string& request_id) {
  absl::MutexLock r(&read_mu_);
  ASSIGN_OR_RETURN(auto s,
                   reader_->Prepare("SELECT id FROM graphs WHERE request_id = ?1"));
  s.Bind(1, request_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("no graph with request id \"", request_id, "\""));
  }
  return s.ColumnInt(0);
}

absl::StatusOr<StoredGraph> Store::ReadGraphLocked(sql::Database& db,
                                                   GraphId id) {
  StoredGraph g;
  {
    ASSIGN_OR_RETURN(auto s, db.Prepare(absl::StrCat(
                                 "SELECT ", kGraphColumns,
                                 " FROM graphs WHERE id = ?1")));
    s.Bind(1, id);
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) {
      return absl::NotFoundError(absl::StrCat("unknown graph \"", id, "\""));
    }
    g.record = ReadGraphRow(s);
    g.spec.name = g.record.name;
  }
  ASSIGN_OR_RETURN(auto s, db.Prepare(absl::StrCat(
                               "SELECT ", kTaskColumns,
                               " FROM tasks WHERE graph_id = ?1 ORDER BY idx")));
  s.Bind(1, id);
  std::vector<std::vector<int32_t>> dep_indices;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    TaskSpec& t = g.spec.tasks.emplace_back();
    t.id = s.ColumnText(1);
    ASSIGN_OR_RETURN(t.command, codec::DecodeStrings(s.ColumnBlob(2)));
    ASSIGN_OR_RETURN(dep_indices.emplace_back(),
                     codec::DecodeInts(s.ColumnBlob(3)));
    ASSIGN_OR_RETURN(t.env, codec::DecodeMap(s.ColumnBlob(4)));
    t.cwd = s.ColumnText(5);
    t.priority = static_cast<int32_t>(s.ColumnInt(6));
    t.max_attempts = static_cast<int32_t>(s.ColumnInt(7));
    t.timeout_s = s.ColumnInt(8);
    ASSIGN_OR_RETURN(t.labels, codec::DecodeMap(s.ColumnBlob(9)));
    TaskStatus& status = g.tasks.emplace_back();
    status.state = static_cast<TaskState>(s.ColumnInt(10));
    status.attempts = static_cast<int32_t>(s.ColumnInt(11));
    status.failures = static_cast<int32_t>(s.ColumnInt(12));
    status.skipped_because = static_cast<int32_t>(s.ColumnInt(13));
    status.current_attempt = s.ColumnInt(14);
    status.lost = static_cast<int32_t>(s.ColumnInt(15));
    status.sequence = s.ColumnInt(16);
  }
  const size_t n = g.spec.tasks.size();
  for (size_t i = 0; i < n; ++i) {
    for (int32_t d : dep_indices[i]) {
      if (d < 0 || static_cast<size_t>(d) >= n) {
        return absl::DataLossError(absl::StrCat(
            "graph ", id, ": task \"", g.spec.tasks[i].id,
            "\" has a dependency index out of range"));
      }
      g.spec.tasks[i].deps.push_back(g.spec.tasks[d].id);
    }
  }
  absl::StatusOr<Dag> dag = Dag::Build(
      n, [&](size_t i) -> const std::string& { return g.spec.tasks[i].id; },
      [&](size_t i) -> const std::vector<std::string>& {
        return g.spec.tasks[i].deps;
      });
  if (!dag.ok()) {
    return absl::DataLossError(absl::StrCat("graph ", id, " in \"", path_,
                                            "\": ", dag.status().message()));
  }
  g.dag = *std::move(dag);
  return g;
}

absl::Status Store::ForEachRunningGraph(
    absl::FunctionRef<absl::Status(StoredGraph)> fn) {
  absl::MutexLock w(&write_mu_);
  std::vector<GraphId> ids;
  {
    ASSIGN_OR_RETURN(auto s, writer_->Prepare(
                                 "SELECT id FROM graphs WHERE state = 1 "
                                 "ORDER BY id"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      ids.push_back(s.ColumnInt(0));
    }
  }
  for (GraphId id : ids) {
    ASSIGN_OR_RETURN(StoredGraph g, ReadGraphLocked(*writer_, id));
    RETURN_IF_ERROR(fn(std::move(g)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AttemptRecord>> Store::RunningAttempts() {
  absl::MutexLock w(&write_mu_);
  ASSIGN_OR_RETURN(auto s, writer_->Prepare(absl::StrCat(
                               "SELECT ", kAttemptColumns,
                               " FROM attempts WHERE state = 1 ORDER BY id")));
  return CollectAttempts(s);
}

absl::StatusOr<AttemptId> Store::MaxAttemptId() {
  absl::MutexLock w(&write_mu_);
  return writer_->QueryInt("SELECT COALESCE(MAX(id), 0) FROM attempts");
}

absl::StatusOr<GraphId> Store::MaxGraphId() {
  absl::MutexLock w(&write_mu_);
  return writer_->QueryInt("SELECT COALESCE(MAX(id), 0) FROM graphs");
}

absl::StatusOr<uint64_t> Store::MaxEventSequence() {
  absl::MutexLock w(&write_mu_);
  return writer_->QueryInt("SELECT COALESCE(MAX(sequence), 0) FROM graphs");
}

absl::Status Store::InReadTransaction(absl::FunctionRef<absl::Status()> read) {
  RETURN_IF_ERROR(reader_->Execute("BEGIN"));
  absl::Status status = read();
  absl::Status commit = reader_->Execute("COMMIT");
  if (!commit.ok()) {
    (void)reader_->Execute("ROLLBACK");  // best effort; COMMIT said why
    if (status.ok()) status = commit;
  }
  return status;
}

absl::StatusOr<StoredGraph> Store::ReadGraph(GraphId id,
                                             AttemptsToRead attempts) {
  absl::MutexLock r(&read_mu_);
  absl::StatusOr<StoredGraph> g;
  RETURN_IF_ERROR(InReadTransaction([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                        read_mu_) -> absl::Status {
    g = ReadGraphLocked(*reader_, id);
    if (!g.ok() || attempts == AttemptsToRead::kNone) return g.status();
    ASSIGN_OR_RETURN(g->attempts,
                     ReadAttemptsLocked(id, attempts == AttemptsToRead::kAll));
    return absl::OkStatus();
  }));
  return g;
}

absl::StatusOr<GraphRecord> Store::ReadGraphRecord(GraphId id) {
  absl::MutexLock r(&read_mu_);
  return ReadGraphRecordLocked(id);
}

absl::StatusOr<GraphRecord> Store::ReadGraphRecordLocked(GraphId id) {
  ASSIGN_OR_RETURN(auto s, reader_->Prepare(absl::StrCat(
                               "SELECT ", kGraphColumns,
                               " FROM graphs WHERE id = ?1")));
  s.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("unknown graph \"", id, "\""));
  }
  return ReadGraphRow(s);
}

absl::StatusOr<std::pair<GraphRecord, TaskCounts>> Store::ReadGraphSummary(
    GraphId id) {
  absl::MutexLock r(&read_mu_);
  absl::StatusOr<std::pair<GraphRecord, TaskCounts>> result;
  RETURN_IF_ERROR(InReadTransaction(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_) -> absl::Status {
        ASSIGN_OR_RETURN(GraphRecord record, ReadGraphRecordLocked(id));
        ASSIGN_OR_RETURN(TaskCounts counts, CountTasksLocked(id));
        result = std::make_pair(std::move(record), counts);
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<AttemptRecord>> Store::ReadAttempts(GraphId id,
                                                               bool all) {
  absl::MutexLock r(&read_mu_);
  return ReadAttemptsLocked(id, all);
}

absl::StatusOr<std::vector<AttemptRecord>> Store::ReadAttemptsLocked(
    GraphId id, bool all) {
  std::string sql = absl::StrCat("SELECT ", kAttemptColumns,
                                 " FROM attempts a WHERE graph_id = ?1");
  if (!all) {
    absl::StrAppend(&sql,
                    " AND number = (SELECT MAX(number) FROM attempts b WHERE "
                    "b.graph_id = a.graph_id AND b.task_idx = a.task_idx)");
  }
  absl::StrAppend(&sql, " ORDER BY task_idx, number");
  ASSIGN_OR_RETURN(auto s, reader_->Prepare(sql));
  s.Bind(1, id);
  return CollectAttempts(s);
}

absl::StatusOr<absl::flat_hash_map<std::string, std::vector<int64_t>>>
Store::PastDurations(const std::string& name, GraphId before, int max_graphs) {
  absl::MutexLock r(&read_mu_);
  // `id < ?2 ORDER BY id DESC` walks the rowid back from `before`; the
  // attempts come by their (graph_id, task_idx, number) index, the task
  // ids by the tasks' primary key.
  ASSIGN_OR_RETURN(
      auto s,
      reader_->Prepare(
          "SELECT t.task_id, a.finished_ms - a.started_ms FROM "
          "(SELECT id FROM graphs WHERE name = ?1 AND id < ?2 "
          "ORDER BY id DESC LIMIT ?3) g "
          "JOIN attempts a ON a.graph_id = g.id "
          "JOIN tasks t ON t.graph_id = a.graph_id AND t.idx = a.task_idx "
          "WHERE a.state = ?4 AND a.started_ms > 0 "
          "AND a.finished_ms >= a.started_ms "
          "ORDER BY g.id DESC, a.task_idx, a.number"));
  s.Bind(1, name).Bind(2, before).Bind(3, int64_t{max_graphs})
      .Bind(4, static_cast<int64_t>(AttemptState::kSucceeded));
  absl::flat_hash_map<std::string, std::vector<int64_t>> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out[s.ColumnText(0)].push_back(s.ColumnInt(1));
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<GraphRecord, TaskCounts>>>
Store::ListGraphs(int limit) {
  absl::MutexLock r(&read_mu_);
  // One read transaction, so the counts match the graph rows.
  absl::StatusOr<std::vector<std::pair<GraphRecord, TaskCounts>>> result;
  RETURN_IF_ERROR(InReadTransaction(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_) -> absl::Status {
        result = ListGraphsLocked(limit);
        return result.status();
      }));
  return result;
}

absl::StatusOr<std::vector<std::pair<GraphRecord, TaskCounts>>>
Store::ListGraphsLocked(int limit) {
  std::vector<std::pair<GraphRecord, TaskCounts>> out;
  ASSIGN_OR_RETURN(auto s, reader_->Prepare(absl::StrCat(
                               "SELECT ", kGraphColumns,
                               " FROM graphs ORDER BY id DESC LIMIT ?1")));
  s.Bind(1, int64_t{limit});
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.emplace_back(ReadGraphRow(s), TaskCounts{});
  }
  for (auto& [record, c] : out) {
    ASSIGN_OR_RETURN(c, CountTasksLocked(record.id));
  }
  return out;
}

absl::StatusOr<TaskCounts> Store::CountTasksLocked(GraphId id) {
  ASSIGN_OR_RETURN(auto s,
                   reader_->Prepare("SELECT state, COUNT(*) FROM tasks "
                                    "WHERE graph_id = ?1 GROUP BY state"));
  s.Bind(1, id);
  TaskCounts counts;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    counts.Add(static_cast<TaskState>(s.ColumnInt(0)), s.ColumnInt(1));
  }
  return counts;
}

absl::StatusOr<StoredChanges> Store::ReadChangesSince(GraphId id,
                                                      uint64_t after) {
  absl::MutexLock r(&read_mu_);
  absl::StatusOr<StoredChanges> result;
  RETURN_IF_ERROR(InReadTransaction(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_) -> absl::Status {
        result = ReadChangesLocked(id, after);
        return result.status();
      }));
  return result;
}

absl::StatusOr<StoredChanges> Store::ReadChangesLocked(GraphId id,
                                                       uint64_t after) {
  StoredChanges out;
  ASSIGN_OR_RETURN(out.head,
                   reader_->QueryInt(
                       "SELECT COALESCE(MAX(sequence), 0) FROM graphs"));
  // Rows written before sequence numbers existed have 0: "every task" must
  // include them.
  const int64_t after_or_all = after == 0 ? -1 : static_cast<int64_t>(after);
  {
    ASSIGN_OR_RETURN(
        auto s, reader_->Prepare(absl::StrCat(
                    "SELECT ", kGraphColumns, " FROM graphs WHERE ",
                    id != 0 ? "id = ?1" : "sequence > ?2", " ORDER BY id")));
    if (id != 0) {
      s.Bind(1, id);
    } else {
      s.Bind(2, after_or_all);
    }
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.graphs.emplace_back().record = ReadGraphRow(s);
    }
  }
  if (id != 0 && out.graphs.empty()) {
    return absl::NotFoundError(absl::StrCat("unknown graph \"", id, "\""));
  }
  // The last attempt of a task has number = tasks.attempts (attempts
  // started); the join uses the attempts_by_task index.
  ASSIGN_OR_RETURN(
      auto tasks,
      reader_->Prepare(absl::StrCat(
          "SELECT t.idx, t.task_id, t.state, t.attempts, t.failures, "
          "t.skipped_because, t.current_attempt, t.lost, t.sequence, "
          "(SELECT c.task_id FROM tasks c WHERE c.graph_id = t.graph_id AND "
          "c.idx = t.skipped_because), ",
          "a.", absl::StrReplaceAll(kAttemptColumns, {{", ", ", a."}}),
          " FROM tasks t LEFT JOIN attempts a ON a.graph_id = t.graph_id AND "
          "a.task_idx = t.idx AND a.number = t.attempts "
          "WHERE t.graph_id = ?1 AND t.sequence > ?2 ORDER BY t.idx")));
  for (StoredChanges::Graph& g : out.graphs) {
    if (g.record.sequence <= after && after != 0) continue;
    ASSIGN_OR_RETURN(g.counts, CountTasksLocked(g.record.id));
    tasks.Bind(1, g.record.id).Bind(2, after_or_all);
    while (true) {
      ASSIGN_OR_RETURN(bool row, tasks.Step());
      if (!row) break;
      StoredChanges::Task& t = g.tasks.emplace_back();
      t.index = static_cast<int32_t>(tasks.ColumnInt(0));
      t.id = tasks.ColumnText(1);
      t.status.state = static_cast<TaskState>(tasks.ColumnInt(2));
      t.status.attempts = static_cast<int32_t>(tasks.ColumnInt(3));
      t.status.failures = static_cast<int32_t>(tasks.ColumnInt(4));
      t.status.skipped_because = static_cast<int32_t>(tasks.ColumnInt(5));
      t.status.current_attempt = tasks.ColumnInt(6);
      t.status.lost = static_cast<int32_t>(tasks.ColumnInt(7));
      t.status.sequence = tasks.ColumnInt(8);
      t.skipped_because = tasks.ColumnText(9);
      if (t.status.attempts > 0) {
        t.last_attempt = ReadAttemptRow(tasks, /*first_column=*/10);
      }
    }
    tasks.Reset();
  }
  return out;
}

absl::StatusOr<AttemptOutput> Store::ReadAttemptOutput(const OutputQuery& q) {
  absl::MutexLock r(&read_mu_);
  // One snapshot: an attempt seen finished comes with every chunk committed
  // before its result.
  absl::StatusOr<AttemptOutput> result;
  RETURN_IF_ERROR(InReadTransaction(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_) -> absl::Status {
        result = ReadAttemptOutputLocked(q);
        return result.status();
      }));
  return result;
}

absl::StatusOr<AttemptOutput> Store::ReadAttemptOutputLocked(
    const OutputQuery& q) {
  sql::Database& db = *reader_;
  int64_t index = q.task_index;
  std::string task_name = q.task_id;
  {
    // Tells an unknown graph from an unknown task, and names the task.
    ASSIGN_OR_RETURN(auto s, db.Prepare("SELECT id FROM graphs WHERE id = ?1"));
    s.Bind(1, q.graph_id);
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) {
      return absl::NotFoundError(
          absl::StrCat("unknown graph \"", q.graph_id, "\""));
    }
  }
  {
    ASSIGN_OR_RETURN(
        auto s, index >= 0
                    ? db.Prepare("SELECT idx, task_id FROM tasks WHERE "
                                 "graph_id = ?1 AND idx = ?2")
                    : db.Prepare("SELECT idx, task_id FROM tasks WHERE "
                                 "graph_id = ?1 AND task_id = ?2"));
    s.Bind(1, q.graph_id);
    if (index >= 0) {
      s.Bind(2, index);
    } else {
      s.Bind(2, q.task_id);
    }
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) {
      return absl::NotFoundError(absl::StrCat(
          "graph ", q.graph_id, " has no task \"", q.task_id, "\""));
    }
    index = s.ColumnInt(0);
    task_name = s.ColumnText(1);
  }
  AttemptOutput out;
  {
    ASSIGN_OR_RETURN(auto s, db.Prepare(absl::StrCat(
                                 "SELECT ", kAttemptColumns,
                                 " FROM attempts WHERE graph_id = ?1 AND "
                                 "task_idx = ?2 ORDER BY number DESC")));
    s.Bind(1, q.graph_id).Bind(2, index);
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) {
      return absl::FailedPreconditionError(
          absl::StrCat("task \"", task_name, "\" of graph ", q.graph_id,
                       " has not started yet: it has no attempt"));
    }
    const int32_t latest = static_cast<int32_t>(s.ColumnInt(3));
    while (row && q.number != 0 && s.ColumnInt(3) != q.number) {
      ASSIGN_OR_RETURN(row, s.Step());
    }
    if (!row) {
      return absl::NotFoundError(absl::StrCat(
          "task \"", task_name, "\" of graph ", q.graph_id, " has no attempt ",
          q.number, " (its attempts are 1 to ", latest, ")"));
    }
    out.attempt = ReadAttemptRow(s);
  }
  ASSIGN_OR_RETURN(auto chunks,
                   db.Prepare("SELECT byte_offset, data FROM output_chunks "
                              "WHERE attempt_id = ?1 AND stream = ?2 AND "
                              "byte_offset + length(data) >= ?3 "
                              "ORDER BY byte_offset"));
  for (int i = 0; i < 2; ++i) {
    if (!q.read[i]) continue;
    const OutputStream stream =
        i == 0 ? OutputStream::kStdout : OutputStream::kStderr;
    chunks.Bind(1, static_cast<int64_t>(out.attempt.id))
        .Bind(2, static_cast<int64_t>(stream))
        .Bind(3, static_cast<int64_t>(q.from[i]));
    size_t bytes = 0;
    while (bytes < q.max_bytes) {
      ASSIGN_OR_RETURN(bool row, chunks.Step());
      if (!row) break;
      OutputChunk& c = out.chunks[i].emplace_back();
      c.attempt_id = out.attempt.id;
      c.stream = stream;
      c.offset = static_cast<uint64_t>(chunks.ColumnInt(0));
      c.data = chunks.ColumnBlob(1);
      bytes += c.data.size();
    }
    out.cut[i] = bytes >= q.max_bytes;
    chunks.Reset();
  }
  return out;
}

}  // namespace vitte::task
