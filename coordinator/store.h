// Durable state of the coordinator in one SQLite file: graphs, their tasks
// and every attempt. The coordinator decides what changes together and hands
// the store a StoreWrites batch, which commits in one transaction.
#ifndef VITTE_COORDINATOR_STORE_H_
#define VITTE_COORDINATOR_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/dag.h"
#include "common/sqlite.h"
#include "coordinator/types.h"

namespace vitte::task {

struct StoreOptions {
  // PRAGMA synchronous: FULL makes every commit survive power loss; NORMAL
  // (in WAL mode) survives a process crash but may lose the last commits on
  // power loss.
  bool synchronous_full = true;
};

// A batch of changes that commit together.
struct StoreWrites {
  // A graph accepted by the coordinator, with the id it chose. Its tasks
  // are stored ready when they have no dependency and pending otherwise;
  // task updates of the same batch apply after the insert.
  struct NewGraph {
    GraphRecord record;
    std::shared_ptr<const GraphSpec> spec;
    std::shared_ptr<const Dag> dag;
  };
  struct TaskUpdate {
    GraphId graph_id;
    int32_t task_index;
    TaskStatus status;
  };
  struct GraphUpdate {
    GraphId graph_id;
    GraphState state;
    bool cancel_requested;
    int64_t finished_at_ms;
    uint64_t sequence;
  };
  std::vector<NewGraph> new_graphs;  // written first
  std::vector<TaskUpdate> tasks;
  // Inserted, or replaced when the id exists (a finished attempt).
  std::vector<AttemptRecord> attempts;
  std::vector<GraphUpdate> graphs;
  // Output of running attempts, written after `attempts`. A chunk whose
  // (attempt, stream, offset) is stored already is ignored.
  std::vector<OutputChunk> output;

  bool empty() const {
    return new_graphs.empty() && tasks.empty() && attempts.empty() &&
           graphs.empty() && output.empty();
  }
  void Clear() {
    new_graphs.clear();
    tasks.clear();
    attempts.clear();
    graphs.clear();
    output.clear();
  }
};

// A graph as loaded from the store.
struct StoredGraph {
  GraphRecord record;
  GraphSpec spec;
  Dag dag;
  std::vector<TaskStatus> tasks;  // parallel to spec.tasks
  // Filled only when asked for (Store::ReadGraph), ordered by task then
  // attempt number.
  std::vector<AttemptRecord> attempts;
};

// What changed in the store after an event sequence number (see
// Store::ReadChangesSince).
struct StoredChanges {
  struct Task {
    int32_t index = 0;
    std::string id;
    TaskStatus status;
    std::string skipped_because;  // the cause's task id
    // The task's last attempt (id 0 if it never started).
    AttemptRecord last_attempt;
  };
  struct Graph {
    GraphRecord record;
    TaskCounts counts;
    std::vector<Task> tasks;  // those changed, by index
  };
  // The last sequence number the snapshot holds.
  uint64_t head = 0;
  std::vector<Graph> graphs;
};

// Which output Store::ReadAttemptOutput reads.
struct OutputQuery {
  GraphId graph_id = 0;
  // The task: its index when the caller knows it (>= 0), else its id.
  int32_t task_index = -1;
  std::string task_id;
  // Attempt number; 0 = the task's latest attempt.
  int32_t number = 0;
  // Per stream (index 0 stdout, 1 stderr): whether to read it, and from
  // which offset on (chunks that end before it are skipped; the one that
  // ends at it is read, for the byte before the offset).
  bool read[2] = {true, true};
  uint64_t from[2] = {0, 0};
  // Stop reading a stream's chunks once this many bytes were read.
  size_t max_bytes = 4 << 20;
};

// One attempt and the output chunks asked for, from one snapshot.
struct AttemptOutput {
  AttemptRecord attempt;
  // Per stream (0 stdout, 1 stderr), ordered by offset; the last one may
  // be followed by more that max_bytes left out.
  std::vector<OutputChunk> chunks[2];
  // Reading a stream stopped at max_bytes: more chunks may follow.
  bool cut[2] = {false, false};
};

// Which attempts Store::ReadGraph reads with the graph.
enum class AttemptsToRead { kNone, kLast, kAll };

// Thread-safe. Writes are serialised on one connection; reads use a second
// connection, so they see the last commit and never block writers (WAL).
class Store {
 public:
  // Opens or creates the database at `path` with the current schema,
  // upgrading an older one. FAILED_PRECONDITION when another process holds
  // the file or the file comes from a newer vitte-task; DATA_LOSS when it is
  // not a vitte-task database.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path,
                                                      StoreOptions options = {});
  ~Store();

  // Schema version this build writes.
  static constexpr int kSchemaVersion = 7;

  // Stores a new graph with every task in `initial` state, under the next
  // free id, in a transaction of its own; returns the id. With a non-empty
  // record.request_id that already names a graph, stores nothing and
  // returns ALREADY_EXISTS whose message is the existing id. (The
  // coordinator chooses ids itself and inserts through Commit.)
  absl::StatusOr<GraphId> InsertGraph(const GraphRecord& record,
                                      const GraphSpec& spec, const Dag& dag,
                                      const std::vector<TaskStatus>& initial);

  // Commits `writes` in one transaction.
  absl::Status Commit(const StoreWrites& writes);

  // The graph created with `request_id`, if any.
  absl::StatusOr<GraphId> FindByRequestId(const std::string& request_id);

  // Calls `fn` for every graph still running, oldest first, with its full
  // spec and task states (used once, at start-up).
  absl::Status ForEachRunningGraph(absl::FunctionRef<absl::Status(StoredGraph)> fn);

  // Every attempt still in state running, across graphs.
  absl::StatusOr<std::vector<AttemptRecord>> RunningAttempts();

  // Largest attempt id ever stored (0 if none).
  absl::StatusOr<AttemptId> MaxAttemptId();
  // Largest graph id ever stored (0 if none).
  absl::StatusOr<GraphId> MaxGraphId();
  // Sequence number of the last event stored (0 if none).
  absl::StatusOr<uint64_t> MaxEventSequence();

  // --- Reads for clients (second connection) ---

  // NOT_FOUND names the id.
  // The graph, its tasks and the attempts asked for, all from one snapshot.
  absl::StatusOr<StoredGraph> ReadGraph(
      GraphId id, AttemptsToRead attempts = AttemptsToRead::kNone);
  absl::StatusOr<GraphRecord> ReadGraphRecord(GraphId id);
  // The graph's record and task counts, from one snapshot.
  absl::StatusOr<std::pair<GraphRecord, TaskCounts>> ReadGraphSummary(
      GraphId id);
  // Attempts of one graph ordered by task then number. `all` = false keeps
  // only the last attempt of each task.
  absl::StatusOr<std::vector<AttemptRecord>> ReadAttempts(GraphId id, bool all);
  // From one snapshot: the graphs (graph `id`, or every graph when 0) whose
  // last event came after `after`, each with its counts and the tasks whose
  // last event did (every task when `after` is 0), and the snapshot's last
  // sequence. NOT_FOUND for an unknown graph id; a known graph that did not
  // change is returned without tasks.
  absl::StatusOr<StoredChanges> ReadChangesSince(GraphId id, uint64_t after);
  // Durations (finished - started, ms) of the succeeded attempts in the
  // `max_graphs` most recent graphs named `name` whose id is below
  // `before`, by task id; a task's durations are ordered newest graph
  // first. For estimates: what the same task of the same graph took in
  // earlier runs. Bounded: the graphs come from the graphs_by_name index,
  // their attempts from attempts_by_task.
  absl::StatusOr<absl::flat_hash_map<std::string, std::vector<int64_t>>>
  PastDurations(const std::string& name, GraphId before, int max_graphs);
  // Most recent first, with task counts.
  absl::StatusOr<std::vector<std::pair<GraphRecord, TaskCounts>>> ListGraphs(
      int limit);
  // An attempt with its output. NOT_FOUND names the unknown graph, task or
  // attempt number; FAILED_PRECONDITION when the task has no attempt yet.
  absl::StatusOr<AttemptOutput> ReadAttemptOutput(const OutputQuery& query);

  const std::string& path() const { return path_; }
  // Transactions committed by Commit so far.
  int64_t commits() const { return commits_.load(std::memory_order_relaxed); }

 private:
  struct Statements;
  Store(std::string path, int lock_fd);
  absl::Status Init(StoreOptions options);
  // Inserts the graph's row and its tasks' rows, inside the caller's
  // transaction.
  absl::Status InsertGraphRows(const GraphRecord& record, const GraphSpec& spec,
                               const Dag& dag,
                               absl::FunctionRef<TaskStatus(size_t)> initial)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<StoredGraph> ReadGraphLocked(sql::Database& db, GraphId id);
  absl::StatusOr<std::vector<std::pair<GraphRecord, TaskCounts>>>
  ListGraphsLocked(int limit) ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  absl::StatusOr<TaskCounts> CountTasksLocked(GraphId id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  absl::StatusOr<GraphRecord> ReadGraphRecordLocked(GraphId id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  absl::StatusOr<StoredChanges> ReadChangesLocked(GraphId id, uint64_t after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  absl::StatusOr<std::vector<AttemptRecord>> ReadAttemptsLocked(GraphId id,
                                                                bool all)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  absl::StatusOr<AttemptOutput> ReadAttemptOutputLocked(const OutputQuery& q)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  // Runs `read` in one read transaction of the reader connection, so that
  // its queries see one snapshot. A failed COMMIT is rolled back, so the
  // connection never stays pinned inside a transaction.
  absl::Status InReadTransaction(absl::FunctionRef<absl::Status()> read)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);

  const std::string path_;
  const int lock_fd_;
  std::atomic<int64_t> commits_ = 0;  // flock()ed for the life of the store

  absl::Mutex write_mu_;
  std::unique_ptr<sql::Database> writer_ ABSL_GUARDED_BY(write_mu_);
  std::unique_ptr<Statements> write_stmts_ ABSL_GUARDED_BY(write_mu_);

  absl::Mutex read_mu_;
  std::unique_ptr<sql::Database> reader_ ABSL_GUARDED_BY(read_mu_);
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_STORE_H_
