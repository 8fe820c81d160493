// The coordinator's domain core: accepts graphs, hands ready tasks to worker
// sessions, applies their results, and keeps the store in step. Knows
// nothing of gRPC: the services translate requests into these calls and the
// WorkerConnection / GraphWatcher interfaces back into stream writes.
#ifndef VITTE_COORDINATOR_COORDINATOR_H_
#define VITTE_COORDINATOR_COORDINATOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/graph_spec.h"
#include "coordinator/decision_log.h"
#include "coordinator/event_log.h"
#include "common/metrics.h"
#include "coordinator/coordinator_metrics.h"
#include "coordinator/graph_run.h"
#include "coordinator/ready_queue.h"
#include "coordinator/store.h"
#include "coordinator/task_logs.h"
#include "coordinator/types.h"

namespace vitte::task {

// The coordinator's side of one worker session. Calls come from the
// coordinator without its lock held, in commit order; implementations must
// not block and must not call back into the Coordinator. Must stay safe to
// call after the session closed (then it drops what it gets).
class WorkerConnection {
 public:
  virtual ~WorkerConnection() = default;
  // First call of a session, before any Send.
  virtual void OnRegistered(SessionId session,
                            absl::Duration heartbeat_interval) = 0;
  virtual void Send(std::vector<Assignment> assignments,
                    std::vector<AttemptId> cancels) = 0;
  // Ends the session's stream (after what was sent before): the coordinator
  // gave up on it, e.g. it missed its lease.
  virtual void Close(const absl::Status& why) = 0;
};

// Receives the events of one graph or of every graph, same rules as
// WorkerConnection. A follower of one graph gets a last batch with `end`
// set, whose last event has graph_finished set.
class GraphWatcher {
 public:
  virtual ~GraphWatcher() = default;
  virtual void OnEvents(EventBatch batch) = 0;
};

struct WorkerRegistration {
  std::string name;
  int32_t slots = 1;
  // OpenSession adds serve_labels to these (a serve-label is also a label).
  Labels labels;
  // When not empty, the worker takes only tasks that require every one of
  // these (WorkerTakes), e.g. {pool: release} for release-only machines.
  Labels serve_labels;
  // Attempts the worker still runs or has results for (see
  // OpenSession).
  std::vector<AttemptId> held_attempts;
  // Tasks it wants queued beyond its slots, so that a slot that frees up
  // starts its next task at once instead of after a round trip and a
  // commit. Such tasks count as running (their lease is held).
  int32_t prefetch = 0;
};

struct WorkerView {
  std::string name;
  SessionId session_id = 0;
  int32_t slots = 0;
  int32_t prefetch = 0;
  int32_t running = 0;
  Labels labels;  // serve_labels included
  Labels serve_labels;
  int64_t connected_at_ms = 0;
  int64_t last_seen_ms = 0;
  bool connected = true;
  bool draining = false;
};

struct SubmitResult {
  GraphId graph_id = 0;
  bool created = false;
};

// A graph as clients see it: its record, spec, task states and attempts.
struct GraphView {
  GraphRecord record;
  GraphSpec spec;
  std::vector<TaskStatus> tasks;
  TaskCounts counts;
  // Per task, oldest first.
  std::vector<std::vector<AttemptRecord>> attempts;
};

struct GraphSummaryView {
  GraphRecord record;
  TaskCounts counts;
};

// What Coordinator::GetLogs reads: one attempt of one task.
struct LogsQuery {
  GraphId graph_id = 0;
  std::string task_id;
  int32_t attempt = 0;  // number; 0 = the latest
  bool read_stdout = true;
  bool read_stderr = true;
  std::string cursor;  // see FormatLogCursor; "" = from the start
};

struct LogsView {
  AttemptRecord attempt;
  // Empty slices for streams not asked for.
  LogSlice out;
  LogSlice err;
  std::string next_cursor;
  // The attempt ended and both slices reach the end of their streams.
  bool finished = false;
  // A slice was cut at its size limit.
  bool more = false;
};

struct CoordinatorOptions {
  GraphLimits limits;
  // Told to workers: how often they send a message when idle.
  absl::Duration heartbeat_interval = absl::Seconds(2);
  // A session silent for this long is lost: its attempts are re-queued.
  // Workers have this long to come back after a coordinator restart.
  absl::Duration lease_timeout = absl::Seconds(10);
  // A session whose stream broke has this long to come back (a new session
  // under the same name, listing what it holds) and keep its attempts;
  // then it is lost. Short, because a broken stream usually means a dead
  // worker whose tasks should run elsewhere now; a worker that comes back
  // later is told to stop what it held, and its late results are refused.
  absl::Duration reconnect_grace = absl::Milliseconds(500);
  // Delay before the first retry of a failed task; doubles with each
  // failure, up to max_retry_backoff.
  absl::Duration retry_backoff = absl::Seconds(1);
  absl::Duration max_retry_backoff = absl::Minutes(1);
  // A task whose worker is lost this many times fails for good.
  int32_t max_lost_attempts = 3;
  // Group commit. Operations change memory at once and add their writes to
  // a pending batch; a commit takes the whole batch in one transaction, and
  // only then are its consequences sent (assignments, cancels, events) and
  // client operations answered. With background_commit a thread of the
  // coordinator commits batch after batch, so a batch fills while the
  // previous one is being fsync'ed and no caller waits for a disk except
  // clients (Submit, Cancel, Retry), which return once their change is
  // durable. Without it every operation commits before it returns, in the
  // calling thread: simpler to test, one fsync per operation.
  bool background_commit = false;
  // With background_commit: how long a batch may wait for more changes
  // when nobody waits for it. A batch that a client waits for, or that
  // assigns a task to a worker with an idle slot, commits at once; one
  // that only feeds workers' prefetch queues or watchers may wait this
  // long, so that a stream of short tasks pays one fsync per many results.
  absl::Duration max_commit_delay = absl::Milliseconds(5);
  // Events kept in memory so that a follower that reconnects gets exactly
  // what it missed; one further behind gets a compacted catch-up.
  size_t event_history = 100'000;
  // Per attempt and stream, output kept from the start of the stream (the
  // head; see task_logs.h). Told to workers, which send no more.
  int64_t max_log_bytes = 1 << 20;
  // Where the coordinator registers its metrics (not owned; must outlive
  // it). Null: a registry of its own (see metrics_registry()).
  MetricsRegistry* metrics = nullptr;
};

// Thread-safe: every method may be called from any thread.
class Coordinator {
 public:
  // Rebuilds the state of every unfinished graph from `store`. Attempts that
  // were running when the previous coordinator stopped are marked lost and
  // their tasks go back to ready. `store` and `clock` must outlive the
  // coordinator.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(
      Store& store, Clock& clock, CoordinatorOptions options = {});
  ~Coordinator();

  // --- Clients ---

  // Validates and stores a graph; durable when it returns. INVALID_ARGUMENT
  // names what is wrong. A request_id seen before returns the earlier graph
  // with created = false.
  // `owner` names who submits it (GraphRecord::owner).
  absl::StatusOr<SubmitResult> Submit(GraphSpec spec, std::string request_id,
                                      std::string owner = "");
  // Cancels the unfinished tasks named (all of the graph's when empty);
  // returns how many were cancelled. NOT_FOUND for an unknown graph or task.
  absl::StatusOr<int64_t> Cancel(GraphId graph_id,
                                 const std::vector<std::string>& task_ids);
  // Runs again the failed, skipped and cancelled tasks of a finished graph
  // that did not succeed; returns how many. FAILED_PRECONDITION while it
  // runs or once it succeeded; NOT_FOUND for an unknown graph.
  absl::StatusOr<int64_t> Retry(GraphId graph_id);
  absl::StatusOr<GraphView> GetGraph(GraphId graph_id, bool all_attempts);
  // The graph's record and counts only, as committed. NOT_FOUND for an
  // unknown graph.
  absl::StatusOr<GraphSummaryView> GetGraphSummary(GraphId graph_id);
  absl::StatusOr<std::vector<GraphSummaryView>> ListGraphs(int limit);
  std::vector<WorkerView> ListWorkers();
  // The output of one attempt from query.cursor on (at most 4 MiB per
  // stream). NOT_FOUND names an unknown graph, task or attempt;
  // FAILED_PRECONDITION when the task has not started; INVALID_ARGUMENT for
  // a malformed cursor.
  absl::StatusOr<LogsView> GetLogs(const LogsQuery& query);

  // Sends `watcher` the events of graph `graph_id` (0: of every graph)
  // after sequence `after`, then every change as it commits, until the
  // graph finishes (never, for every graph). When the events after `after`
  // are no longer all in memory (a restart, or a follower far behind), and
  // for one graph with `after` = 0, the first batch is compacted: the state
  // now of each task and graph that changed since, read from the store.
  // For every graph, `after` = 0 means from now on. Returns, once the first
  // batch was delivered, a watch id for
  // Unwatch. NOT_FOUND for an unknown graph; INVALID_ARGUMENT for an
  // `after` this coordinator never reached.
  absl::StatusOr<uint64_t> Follow(GraphId graph_id, uint64_t after,
                                  std::shared_ptr<GraphWatcher> watcher);
  // Follow(graph_id, 0, watcher): every task as it is, then each change.
  absl::StatusOr<uint64_t> Watch(GraphId graph_id,
                                 std::shared_ptr<GraphWatcher> watcher) {
    return Follow(graph_id, 0, std::move(watcher));
  }
  void Unwatch(uint64_t watch_id);

  // --- Workers ---

  // Opens a session for a worker. Attempts that an earlier session under the
  // same name (or the worker before a coordinator restart) was running move
  // to the new session if registration.held_attempts lists them, and are
  // re-queued at once otherwise; held attempts that are no longer current
  // are sent back as cancels. INVALID_ARGUMENT for a bad registration.
  absl::StatusOr<SessionId> OpenSession(WorkerRegistration registration,
                                        std::shared_ptr<WorkerConnection> conn);
  // Applies results of a session and renews its lease. A result for an
  // attempt that is not the task's current one, or not this session's, is
  // refused (fenced) and changes nothing; returns how many were refused.
  int Report(SessionId session, const std::vector<AttemptOutcome>& results);
  // Stores output of running attempts (the part before max_log_bytes),
  // committed with the next batch. Chunks for an attempt that is not a
  // running one of this session are dropped (fenced), as results are;
  // returns how many. Does not renew the lease (see Heartbeat).
  int ReportOutput(SessionId session, std::vector<OutputChunk> chunks);
  // The session is alive (renews its lease). False if the session is
  // unknown: it was declared lost or replaced.
  bool Heartbeat(SessionId session);
  // The worker stops taking tasks; what it runs goes on.
  void Drain(SessionId session);
  // The worker leaves: every attempt it still held is re-queued at once,
  // not counted as a failure or a loss, and the session ends.
  void Goodbye(SessionId session);
  // The session's stream broke. Its attempts stay with it until it comes
  // back (OpenSession under the same name), or are lost once the
  // reconnect grace or its lease runs out.
  void CloseSession(SessionId session);
  // Applies what time decides: sessions past their lease are lost, workers
  // that did not come back after a restart lose their attempts, and retries
  // whose backoff ended become ready. Called periodically by the server;
  // tests call it after moving a FakeClock.
  void Tick();

  // From now on a closing session leaves its attempts running in the store,
  // so that after a restart their workers can still report them. Called
  // before the server stops, since stopping ends every stream.
  void BeginShutdown();

  // Returns once every change made before the call is committed and its
  // consequences delivered.
  void Flush() ABSL_LOCKS_EXCLUDED(mu_, commit_mu_);

  const CoordinatorOptions& options() const { return options_; }

  // For estimates: what each task took in earlier runs of graphs with the
  // same name as graph `before` (see Store::PastDurations). Reads the
  // store only; never waits for the coordinator's lock.
  absl::StatusOr<absl::flat_hash_map<std::string, std::vector<int64_t>>>
  PastDurations(const std::string& name, GraphId before, int max_graphs) {
    return store_.PastDurations(name, before, max_graphs);
  }
  // What the coordinator holds now (the gauges of its metrics, which take
  // it at each scrape).
  CoordinatorStats Stats() ABSL_LOCKS_EXCLUDED(mu_);
  const CoordinatorMetrics& metrics() const { return metrics_; }
  MetricsRegistry& metrics_registry() { return metrics_registry_; }

 private:
  struct Session {
    SessionId id = 0;
    WorkerRegistration registration;
    std::shared_ptr<WorkerConnection> conn;
    absl::flat_hash_set<AttemptId> running;
    int64_t connected_at_ms = 0;
    absl::Time last_seen;  // the lease runs from here
    absl::Time disconnected_at;  // when !connected
    // Assignments of `running` that are in the pending batch. The worker
    // holds about running.size() - unsent attempts (about: a batch being
    // committed has left the count but not yet the coordinator).
    int32_t unsent = 0;
    bool connected = true;
    bool draining = false;
  };
  // A ready task waiting for its retry backoff to end.
  struct Delayed {
    int64_t ready_at_ms;
    GraphId graph_id;
    int32_t task_index;
    bool operator>(const Delayed& o) const { return ready_at_ms > o.ready_at_ms; }
  };
  struct AttemptRef {
    GraphId graph_id;
    int32_t task_index;
    // 0 for an attempt recovered after a restart whose worker has not come
    // back yet.
    SessionId session_id;
    AttemptRecord record;  // as started
  };
  struct Watcher {
    GraphId graph_id;  // 0: every graph
    std::shared_ptr<GraphWatcher> watcher;
  };
  // Everything one locked operation produces, applied at its end (merged
  // into the pending batch).
  struct Effects {
    bool urgent = false;  // see Batch::urgent
    StoreWrites writes;
    // Graphs and tasks changed by the operation.
    absl::flat_hash_set<GraphId> graphs;
    absl::flat_hash_set<std::pair<GraphId, int32_t>> tasks;
    std::vector<TaskEvent> events;
    absl::flat_hash_map<SessionId, std::vector<Assignment>> assignments;
    absl::flat_hash_map<SessionId, std::vector<AttemptId>> cancels;
    std::vector<DecisionLine> decisions;  // see NoteDecision
  };
  // A call to make on a connection or watcher once mu_ is released.
  struct Delivery {
    std::shared_ptr<WorkerConnection> conn;
    SessionId registered = 0;  // set: call OnRegistered
    std::optional<absl::Status> close;  // set: call Close, after any Send
    std::vector<Assignment> assignments;
    std::vector<AttemptId> cancels;
    std::shared_ptr<GraphWatcher> watcher;
    EventBatch batch;
  };
  // Changes not yet committed, and the calls to make once they are. Writes
  // to one row are merged: the last state of a task, attempt or graph in
  // the batch is what gets written.
  struct Batch {
    uint64_t seq = 1;
    StoreWrites writes;
    // Someone waits for this batch: a client, or a worker with an idle
    // slot. It commits without waiting for more changes.
    bool urgent = false;
    absl::Time opened = absl::InfinitePast();  // when it got its first change
    // Sessions whose `unsent` counts assignments of this batch.
    absl::flat_hash_set<SessionId> assigned_sessions;
    // Request ids of graphs that finished in this batch (see request_ids_).
    std::vector<std::pair<std::string, GraphId>> finished_requests;
    absl::flat_hash_map<std::pair<GraphId, int32_t>, size_t> task_rows;
    absl::flat_hash_map<AttemptId, size_t> attempt_rows;
    absl::flat_hash_map<GraphId, size_t> graph_rows;
    std::vector<Delivery> deliveries;
    std::vector<DecisionLine> decisions;  // logged once committed
    bool empty() const {
      return writes.empty() && deliveries.empty() && decisions.empty();
    }
  };

  Coordinator(Store& store, Clock& clock, CoordinatorOptions options);
  absl::Status Recover();

  // Adds an event about task `index` of `run` (-1: about the graph) to fx,
  // under the next sequence number, which becomes the task's and the
  // graph's last; fills what every event says (state, counts, time).
  TaskEvent& AddEvent(GraphRun& run, int32_t index, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `batch` to `watcher` and, unless the graph followed is finished,
  // registers it for what comes next. Returns the watch id.
  uint64_t StartFollowingLocked(GraphId graph_id, EventBatch batch,
                                std::shared_ptr<GraphWatcher> watcher)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records `changes` of graph `run` into `fx` (store writes, events, and
  // ready-queue pushes).
  // `attempt`, when given, is described in the events of its task.
  void Record(GraphRun& run, const std::vector<TaskChange>& changes,
              const AttemptRecord* attempt, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends attempt `id` in `state` and removes it from its session.
  AttemptRecord FinishAttempt(AttemptId id, AttemptState state,
                              const std::string& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The attempt's worker is gone: the attempt is lost, its task ready
  // again (or failed, at the max_lost_attempts-th loss).
  void LoseAttempt(AttemptId id, const std::string& why, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The attempt was handed back: its task is ready again, nothing counted.
  void RequeueAttempt(AttemptId id, const std::string& why, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a running attempt that will never report (state lost, `why` as its
  // error) and makes its task ready again, counting a loss or not.
  void EndUnreported(AttemptId id, const std::string& why, bool count_loss,
                     Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues a Close of the session's stream.
  void CloseStream(const Session& session, absl::Status why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets a session; its attempts must have been moved or ended before.
  void EraseSession(SessionId session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rebuilds ready_ when stale entries dominate it.
  void CompactReadyQueue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands ready tasks to sessions with free slots.
  void Dispatch(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the best ready task `session` may run, if any.
  bool StartNextFor(Session& session, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds fx's writes and deliveries to the pending batch (finishing the
  // graphs it completed). Returns the batch to wait for (Finish).
  uint64_t Apply(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The batch that holds every change made so far: the pending one, or the
  // last one taken for commit when nothing is pending.
  uint64_t LastBatchLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends an operation whose changes are in batch `seq`: commits it now
  // (inline mode), or leaves it to the commit thread; with `wait_durable`,
  // returns only once the batch is committed.
  void Finish(uint64_t seq, bool wait_durable) ABSL_LOCKS_EXCLUDED(mu_);
  // Takes the pending batch, commits it, then makes its calls in order. A
  // failed commit leaves memory ahead of the database, so the process stops
  // (fail-stop) and recovers from the database on restart.
  void CommitPending() ABSL_LOCKS_EXCLUDED(mu_, commit_mu_);
  void CommitLoop();
  // Adds a call to make once the pending batch is committed. `urgent`: it
  // must not wait for more changes (see Batch::urgent).
  void QueueDelivery(Delivery d, bool urgent) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Notes that the pending batch got a change.
  void TouchPendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store& store_;
  Clock& clock_;
  const CoordinatorOptions options_;
  // Set when options_.metrics is null.
  const std::unique_ptr<MetricsRegistry> own_metrics_registry_;
  MetricsRegistry& metrics_registry_;
  CoordinatorMetrics metrics_;
  // Sets metrics_'s gauges from Stats() at each scrape.
  uint64_t metrics_scrape_hook_ = 0;

  absl::Mutex mu_;
  absl::flat_hash_map<GraphId, std::unique_ptr<GraphRun>> graphs_
      ABSL_GUARDED_BY(mu_);  // unfinished graphs only
  // Request ids of the graphs in graphs_, and of graphs that finished in a
  // batch not yet committed: an entry goes only once the store is sure to
  // have the graph (its insert commits with or before its end), so that a
  // repeated submit finds the graph here or in the store, never in neither.
  absl::flat_hash_map<std::string, GraphId> request_ids_ ABSL_GUARDED_BY(mu_);
  uint64_t request_ids_removed_ ABSL_GUARDED_BY(mu_) = 0;  // entries erased
  ReadyQueue ready_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<SessionId, Session> sessions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, SessionId> session_by_name_
      ABSL_GUARDED_BY(mu_);
  // Running attempts.
  absl::flat_hash_map<AttemptId, AttemptRef> attempts_ ABSL_GUARDED_BY(mu_);
  // Attempts recovered at start-up (session 0) are lost at this time unless
  // their worker came back for them.
  absl::Time orphans_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<Delayed>>
      delayed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  AttemptId last_attempt_id_ ABSL_GUARDED_BY(mu_) = 0;
  GraphId last_graph_id_ ABSL_GUARDED_BY(mu_) = 0;
  SessionId last_session_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_watch_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_event_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // The last events applied (Apply appends fx.events), in memory.
  EventLog events_ ABSL_GUARDED_BY(mu_){1, 0};
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;

  Batch pending_ ABSL_GUARDED_BY(mu_);
  // Every batch up to this one is committed and delivered.
  uint64_t committed_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_committing_ ABSL_GUARDED_BY(mu_) = false;

  // Held while a batch commits and its calls are made, so that batches
  // commit and deliver in order even when several threads finish
  // operations at once. Acquired before mu_, never while holding it.
  absl::Mutex commit_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::thread committer_;  // with background_commit
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_COORDINATOR_H_
