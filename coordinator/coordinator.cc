#include "coordinator/coordinator.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/decision_log.h"
#include "spdlog/spdlog.h"

namespace vitte::task {
namespace {

// Puts `row` into `rows`, replacing the earlier row of the same key in
// this batch: the last state of a row is what gets written.
template <typename Key, typename Row>
void PutRow(absl::flat_hash_map<Key, size_t>& index, std::vector<Row>& rows,
            const Key& key, Row row) {
  auto [it, added] = index.try_emplace(key, rows.size());
  if (added) {
    rows.push_back(std::move(row));
  } else {
    rows[it->second] = std::move(row);
  }
}

TaskCounts CountTasks(const std::vector<TaskStatus>& tasks) {
  TaskCounts counts;
  for (const TaskStatus& t : tasks) counts.Add(t.state);
  return counts;
}

}  // namespace

Coordinator::Coordinator(Store& store, Clock& clock, CoordinatorOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      own_metrics_registry_(options_.metrics == nullptr
                                ? std::make_unique<MetricsRegistry>()
                                : nullptr),
      metrics_registry_(options_.metrics != nullptr ? *options_.metrics
                                                    : *own_metrics_registry_),
      metrics_(metrics_registry_) {
  metrics_scrape_hook_ =
      metrics_registry_.AddScrapeHook([this] { metrics_.SetStats(Stats()); });
}

Coordinator::~Coordinator() {
  // First: a scrape from now on must not reach into a coordinator going away.
  metrics_registry_.RemoveScrapeHook(metrics_scrape_hook_);
  if (!committer_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stop_committing_ = true;
  }
  committer_.join();  // after it committed what was pending
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(
    Store& store, Clock& clock, CoordinatorOptions options) {
  std::unique_ptr<Coordinator> c(
      new Coordinator(store, clock, std::move(options)));
  RETURN_IF_ERROR(c->Recover());
  c->CommitPending();  // the recovered state is settled before anyone asks
  if (c->options_.background_commit) {
    c->committer_ = std::thread([c = c.get()] { c->CommitLoop(); });
  }
  return c;
}

absl::Status Coordinator::Recover() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(last_attempt_id_, store_.MaxAttemptId());
  ASSIGN_OR_RETURN(last_graph_id_, store_.MaxGraphId());
  ASSIGN_OR_RETURN(last_event_sequence_, store_.MaxEventSequence());
  events_ = EventLog(options_.event_history, last_event_sequence_);
  // Session ids only need to differ from those of earlier runs of the
  // daemon, whose attempts may still be reported; the start time in
  // microseconds does that without storing a counter.
  last_session_id_ = static_cast<SessionId>(clock_.NowMs()) * 1000;

  // The store calls back synchronously, with mu_ still held here.
  RETURN_IF_ERROR(store_.ForEachRunningGraph([&](StoredGraph g)
                                                 ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    GraphId id = g.record.id;
    if (!g.record.request_id.empty()) request_ids_[g.record.request_id] = id;
    auto run = std::make_unique<GraphRun>(std::move(g.record), std::move(g.spec),
                                          std::move(g.dag), std::move(g.tasks));
    for (int32_t i : run->ReadyTasks()) {
      ready_.Push(run->task(i).labels, {run->task(i).priority, id, i});
    }
    graphs_[id] = std::move(run);
    return absl::OkStatus();
  }));

  // No session survives a restart, but workers keep running their attempts
  // while the coordinator is away. Each attempt that was running waits, with
  // no session, for its worker to come back and claim it (OpenSession); the
  // ones still unclaimed after a lease timeout are lost (Tick).
  Effects fx;
  ASSIGN_OR_RETURN(std::vector<AttemptRecord> running, store_.RunningAttempts());
  for (AttemptRecord& a : running) {
    auto g = graphs_.find(a.graph_id);
    if (g != graphs_.end() && a.task_index >= 0 &&
        static_cast<size_t>(a.task_index) < g->second->size() &&
        g->second->status(a.task_index).current_attempt == a.id &&
        g->second->status(a.task_index).state == TaskState::kRunning) {
      attempts_[a.id] = {a.graph_id, a.task_index, 0, a};
      continue;
    }
    // Not the current attempt of a live task: nothing can accept its result.
    a.state = AttemptState::kLost;
    a.finished_at_ms = clock_.NowMs();
    a.error = "not current when the coordinator restarted";
    fx.writes.attempts.push_back(a);
  }
  orphans_deadline_ = clock_.Now() + options_.lease_timeout;
  for (auto& [id, run] : graphs_) {
    for (size_t i = 0; i < run->size(); ++i) {
      const TaskStatus& t = run->status(i);
      if (t.state == TaskState::kRunning && !attempts_.contains(t.current_attempt)) {
        std::vector<TaskChange> changes;
        run->Requeue(static_cast<int32_t>(i), changes);
        Record(*run, changes, nullptr, fx);
      }
    }
    fx.graphs.insert(id);  // finishes graphs that were complete at a crash
  }
  spdlog::info("recovered {} unfinished graphs from {}; {} attempts wait up "
               "to {} for their workers",
               graphs_.size(), store_.path(), attempts_.size(),
               absl::FormatDuration(options_.lease_timeout));
  Apply(fx);  // committed by Create
  return absl::OkStatus();
}

absl::StatusOr<SubmitResult> Coordinator::Submit(GraphSpec spec,
                                                 std::string request_id,
                                                 std::string owner) {
  // Validation, the costly part for a big graph, runs without the lock.
  ASSIGN_OR_RETURN(Dag validated, ValidateGraphSpec(spec, options_.limits));
  auto dag = std::make_shared<const Dag>(std::move(validated));
  // All pending: GraphRun makes those without deps ready (and the store
  // writes them so, see StoreWrites::NewGraph).
  std::vector<TaskStatus> initial(spec.tasks.size());
  // Dependencies now live in the dag as indices; their names would only
  // double the memory a big graph holds.
  for (TaskSpec& t : spec.tasks) std::vector<std::string>().swap(t.deps);
  auto shared_spec = std::make_shared<const GraphSpec>(std::move(spec));

  SubmitResult result;
  uint64_t seq = 0;
  while (true) {
    // A repeated request id names the first submit's graph, which is in
    // memory (live, or finished in a batch not yet committed) or in the
    // store. The store is read without the lock, which a read may hold up;
    // an entry that left memory meanwhile is in the store by then, so the
    // read is redone if that happened.
    std::optional<GraphId> stored;
    uint64_t removals = 0;
    if (!request_id.empty()) {
      {
        absl::MutexLock lock(&mu_);
        removals = request_ids_removed_;
      }
      absl::StatusOr<GraphId> found = store_.FindByRequestId(request_id);
      if (found.ok()) {
        stored = *found;
      } else if (!absl::IsNotFound(found.status())) {
        return found.status();
      }
    }
    absl::MutexLock lock(&mu_);
    std::optional<GraphId> existing = stored;
    if (!request_id.empty()) {
      auto it = request_ids_.find(request_id);
      if (it != request_ids_.end()) {
        existing = it->second;
      } else if (!stored.has_value() && request_ids_removed_ != removals) {
        continue;
      }
    }
    if (existing.has_value()) {
      // Answered once the first submit is durable, like the first submit.
      result = {*existing, false};
      seq = LastBatchLocked();
    } else {
      GraphRecord record;
      record.id = ++last_graph_id_;
      record.name = shared_spec->name;
      record.request_id = std::move(request_id);
      record.owner = std::move(owner);
      record.state = GraphState::kRunning;
      record.created_at_ms = clock_.NowMs();
      result = {record.id, true};
      if (!record.request_id.empty()) {
        request_ids_[record.request_id] = record.id;
      }
      Effects fx;
      auto run = std::make_unique<GraphRun>(std::move(record), shared_spec,
                                            dag, std::move(initial));
      // The tasks' first state is part of the graph's submission.
      AddEvent(*run, -1, fx);
      for (size_t i = 0; i < run->size(); ++i) {
        run->SetSequence(static_cast<int32_t>(i), run->record().sequence);
      }
      fx.writes.new_graphs.push_back({run->record(), shared_spec, dag});
      const int64_t ready_at_us = absl::ToUnixMicros(clock_.Now());
      for (int32_t i : run->ReadyTasks()) {
        ready_.Push(run->task(i).labels,
                    {run->task(i).priority, result.graph_id, i, ready_at_us});
      }
      spdlog::info("graph {} \"{}\" submitted{}: {} tasks, {} ready",
                   result.graph_id, run->record().name,
                   run->record().owner.empty()
                       ? ""
                       : absl::StrCat(" by token \"", run->record().owner, "\""),
                   run->size(), run->counts().ready);
      graphs_[result.graph_id] = std::move(run);
      Dispatch(fx);
      seq = Apply(fx);
    }
    break;
  }
  Finish(seq, /*wait_durable=*/true);
  return result;
}

absl::StatusOr<int64_t> Coordinator::Cancel(
    GraphId graph_id, const std::vector<std::string>& task_ids) {
  int64_t cancelled = 0;
  bool live = false;
  uint64_t seq = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = graphs_.find(graph_id);
    if (it != graphs_.end()) {
      live = true;
      GraphRun& run = *it->second;
      std::vector<int32_t> targets;
      if (task_ids.empty()) {
        for (size_t i = 0; i < run.size(); ++i) {
          targets.push_back(static_cast<int32_t>(i));
        }
      }
      for (const std::string& id : task_ids) {
        int32_t found = run.IndexOf(id);
        if (found < 0) {
          return absl::NotFoundError(absl::StrCat(
              "graph ", graph_id, " has no task ", Quoted(id)));
        }
        targets.push_back(found);
      }
      Effects fx;
      std::vector<TaskChange> changes;
      for (AttemptId running : run.Cancel(targets, changes)) {
        SessionId session = attempts_.at(running).session_id;
        fx.writes.attempts.push_back(
            FinishAttempt(running, AttemptState::kCancelled, "cancelled"));
        fx.cancels[session].push_back(running);
      }
      for (const TaskChange& c : changes) {
        if (c.state == TaskState::kCancelled) ++cancelled;
      }
      // A request that found nothing left to cancel does not mark the
      // graph: if it later fails, it failed, it was not cancelled.
      if (cancelled > 0) {
        run.mutable_record().cancel_requested = true;
        fx.graphs.insert(graph_id);
      }
      Record(run, changes, nullptr, fx);
      spdlog::info("graph {}: cancel requested, {} tasks cancelled", graph_id,
                   cancelled);
      // Slots freed by cancelled attempts can take other graphs' tasks.
      Dispatch(fx);
      seq = Apply(fx);
    }
  }
  if (!live) {
    // Finished graphs are no longer in memory and have nothing left to
    // cancel; the store still tells unknown graphs and tasks apart.
    Flush();
    ASSIGN_OR_RETURN(StoredGraph g, store_.ReadGraph(graph_id));
    for (const std::string& id : task_ids) {
      bool known = false;
      for (const TaskSpec& t : g.spec.tasks) known |= t.id == id;
      if (!known) {
        return absl::NotFoundError(
            absl::StrCat("graph ", graph_id, " has no task ", Quoted(id)));
      }
    }
    return 0;
  }
  Finish(seq, /*wait_durable=*/true);
  return cancelled;
}

absl::StatusOr<int64_t> Coordinator::Retry(GraphId graph_id) {
  auto running = [&]() {
    return absl::FailedPreconditionError(absl::StrCat(
        "graph ", graph_id, " is still running; retry it once it finished"));
  };
  {
    absl::MutexLock lock(&mu_);
    if (graphs_.contains(graph_id)) return running();
  }
  Flush();  // its end may not be committed yet (see Watch)
  ASSIGN_OR_RETURN(StoredGraph g, store_.ReadGraph(graph_id));
  if (g.record.state == GraphState::kSucceeded) {
    return absl::FailedPreconditionError(
        absl::StrCat("graph ", graph_id, " succeeded; nothing to retry"));
  }
  int64_t retried = 0;
  uint64_t seq = 0;
  {
    absl::MutexLock lock(&mu_);
    // Another Retry may have revived it while the store was read.
    if (graphs_.contains(graph_id)) return running();
    Effects fx;
    std::vector<int32_t> retried_tasks;
    for (size_t i = 0; i < g.tasks.size(); ++i) {
      TaskStatus& t = g.tasks[i];
      if (t.state == TaskState::kSucceeded) continue;
      // Attempts keep counting (attempt numbers stay unique per task);
      // the failure and loss budgets start afresh.
      t = TaskStatus{TaskState::kPending, t.attempts, 0, -1, 0, 0, 0};
      retried_tasks.push_back(static_cast<int32_t>(i));
    }
    g.record.state = GraphState::kRunning;
    g.record.cancel_requested = false;
    g.record.finished_at_ms = 0;
    auto run = std::make_unique<GraphRun>(std::move(g.record), std::move(g.spec),
                                          std::move(g.dag), std::move(g.tasks));
    const int64_t ready_at_us = absl::ToUnixMicros(clock_.Now());
    for (int32_t i : run->ReadyTasks()) {
      ready_.Push(run->task(i).labels,
                  {run->task(i).priority, graph_id, i, ready_at_us});
    }
    AddEvent(*run, -1, fx);  // running again
    for (int32_t i : retried_tasks) AddEvent(*run, i, fx);
    retried = static_cast<int64_t>(retried_tasks.size());
    graphs_[graph_id] = std::move(run);
    spdlog::info("graph {}: retrying {} tasks", graph_id, retried);
    Dispatch(fx);
    seq = Apply(fx);
  }
  Finish(seq, /*wait_durable=*/true);
  return retried;
}

absl::StatusOr<GraphView> Coordinator::GetGraph(GraphId graph_id,
                                                bool all_attempts) {
  ASSIGN_OR_RETURN(StoredGraph g,
                   store_.ReadGraph(graph_id, all_attempts
                                                  ? AttemptsToRead::kAll
                                                  : AttemptsToRead::kLast));
  std::vector<AttemptRecord> attempts = std::move(g.attempts);
  GraphView view;
  view.counts = CountTasks(g.tasks);
  view.record = std::move(g.record);
  view.spec = std::move(g.spec);
  view.tasks = std::move(g.tasks);
  view.attempts.resize(view.tasks.size());
  for (AttemptRecord& a : attempts) {
    if (a.task_index >= 0 &&
        static_cast<size_t>(a.task_index) < view.attempts.size()) {
      view.attempts[a.task_index].push_back(std::move(a));
    }
  }
  return view;
}

absl::StatusOr<GraphSummaryView> Coordinator::GetGraphSummary(
    GraphId graph_id) {
  // From the store, like GetGraph: memory may be ahead of what is durable.
  Flush();  // a graph's end may not be committed yet
  ASSIGN_OR_RETURN(auto summary, store_.ReadGraphSummary(graph_id));
  return GraphSummaryView{std::move(summary.first), summary.second};
}

absl::StatusOr<std::vector<GraphSummaryView>> Coordinator::ListGraphs(
    int limit) {
  ASSIGN_OR_RETURN(auto rows, store_.ListGraphs(limit));
  std::vector<GraphSummaryView> out;
  out.reserve(rows.size());
  for (auto& [record, counts] : rows) {
    out.push_back({std::move(record), counts});
  }
  return out;
}

std::vector<WorkerView> Coordinator::ListWorkers() {
  absl::MutexLock lock(&mu_);
  std::vector<WorkerView> out;
  for (const auto& [id, s] : sessions_) {
    out.push_back(
        {s.registration.name, id, s.registration.slots, s.registration.prefetch,
         static_cast<int32_t>(s.running.size()), s.registration.labels,
         s.registration.serve_labels, s.connected_at_ms,
         absl::ToUnixMillis(s.last_seen), s.connected, s.draining});
  }
  std::sort(out.begin(), out.end(),
            [](const WorkerView& a, const WorkerView& b) {
              return a.name < b.name;
            });
  return out;
}

void Coordinator::BeginShutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
}

void Coordinator::Record(GraphRun& run, const std::vector<TaskChange>& changes,
                         const AttemptRecord* attempt, Effects& fx) {
  const GraphId graph_id = run.record().id;
  const int64_t now = clock_.NowMs();
  const int64_t now_us = absl::ToUnixMicros(clock_.Now());  // see ReadyEntry
  fx.graphs.insert(graph_id);
  for (const TaskChange& c : changes) {
    fx.tasks.insert({graph_id, c.index});
    metrics_.TaskStateEntered(c.state);
    const TaskSpec& spec = run.task(c.index);
    if (c.state == TaskState::kReady) {
      int64_t ready_at = run.status(c.index).not_before_ms;
      if (ready_at > now) {
        delayed_.push({ready_at, graph_id, c.index});
      } else {
        ready_.Push(spec.labels,
                    {spec.priority, graph_id, c.index, now_us});
      }
    }
    TaskEvent& e = AddEvent(run, c.index, fx);
    // One change list may pass a task through several states (ready, then
    // failed at the last loss): each event tells its own.
    e.task_state = c.state;
    if (attempt != nullptr && attempt->task_index == c.index) {
      e.attempt_id = attempt->id;
      e.worker = attempt->worker;
      e.exit_code = attempt->exit_code;
      e.attempt_state = attempt->state;
      e.attempt_number = attempt->number;
      e.error = attempt->error;
    }
    int32_t cause = run.status(c.index).skipped_because;
    if (c.state == TaskState::kSkipped && cause >= 0) {
      e.skipped_because = run.task(cause).id;
      NoteDecision(spdlog::level::info,
                  {"skipped", graph_id, spec.id, 0, {},
                   LogfmtPair("because", e.skipped_because)}, fx.decisions);
    } else if (c.state == TaskState::kCancelled) {
      NoteDecision(spdlog::level::info, {"cancelled", graph_id, spec.id},
                   fx.decisions);
    }
  }
}

void Coordinator::Dispatch(Effects& fx) {
  // Free slots first, on every worker; then the queues of workers that
  // asked for prefetch, so that no task waits in one worker's queue while
  // another worker has a slot free.
  for (bool prefetch : {false, true}) {
    for (auto& [session_id, session] : sessions_) {
      if (ready_.size() == 0) return;
      if (!session.connected || session.draining) continue;
      int capacity = session.registration.slots +
                     (prefetch ? session.registration.prefetch : 0);
      int free = capacity - static_cast<int>(session.running.size());
      while (free > 0 && StartNextFor(session, fx)) --free;
    }
  }
}

bool Coordinator::StartNextFor(Session& session, Effects& fx) {
  const int64_t now = clock_.NowMs();
  while (true) {
    std::optional<ReadyEntry> entry = ready_.PopFor(
        session.registration.labels, session.registration.serve_labels);
    if (!entry) return false;
    auto g = graphs_.find(entry->graph_id);
    // Entries are removed lazily: skip those of finished graphs and of
    // tasks no longer ready (cancelled, or already taken).
    if (g == graphs_.end()) continue;
    GraphRun& run = *g->second;
    const int32_t index = entry->task_index;
    if (run.status(index).state != TaskState::kReady) continue;
    // A left-over entry of a task now waiting out a retry backoff: the
    // delayed queue pushes it again when it is due.
    if (run.status(index).not_before_ms > now) continue;

    AttemptRecord a;
    a.id = ++last_attempt_id_;
    a.graph_id = entry->graph_id;
    a.task_index = index;
    a.number = run.status(index).attempts + 1;
    a.worker = session.registration.name;
    a.session_id = session.id;
    a.state = AttemptState::kRunning;
    a.started_at_ms = now;
    std::vector<TaskChange> changes;
    run.Start(index, a.id, changes);
    metrics_.AttemptStarted(entry->ready_at_us,
                            absl::ToUnixMicros(clock_.Now()));
    Record(run, changes, &a, fx);
    NoteDecision(spdlog::level::debug,
                {"dispatched", a.graph_id, run.task(index).id, a.id, a.worker,
                 absl::StrCat("number=", a.number)}, fx.decisions);

    const TaskSpec& spec = run.task(index);
    fx.assignments[session.id].push_back({a.id, a.graph_id, spec.id,
                                          spec.command, spec.env, spec.cwd,
                                          spec.timeout_s, spec.labels});
    // A worker holding fewer attempts than slots idles until this
    // assignment arrives: its batch must not wait.
    if (static_cast<int>(session.running.size()) - session.unsent <
        session.registration.slots) {
      fx.urgent = true;
    }
    session.running.insert(a.id);
    ++session.unsent;
    fx.writes.attempts.push_back(a);
    attempts_[a.id] = {a.graph_id, index, session.id, std::move(a)};
    return true;
  }
}

uint64_t Coordinator::Apply(Effects& fx) {
  Batch& batch = pending_;
  StoreWrites& writes = batch.writes;
  if (!fx.writes.empty() || !fx.tasks.empty() || !fx.graphs.empty()) {
    TouchPendingLocked();
  }
  batch.urgent |= fx.urgent;
  if (!fx.decisions.empty()) {
    TouchPendingLocked();
    for (DecisionLine& line : fx.decisions) {
      batch.decisions.push_back(std::move(line));
    }
  }
  for (StoreWrites::NewGraph& g : fx.writes.new_graphs) {
    writes.new_graphs.push_back(std::move(g));
  }
  for (const auto& [graph_id, index] : fx.tasks) {
    auto g = graphs_.find(graph_id);
    if (g == graphs_.end()) continue;
    PutRow(batch.task_rows, writes.tasks, {graph_id, index},
           StoreWrites::TaskUpdate{graph_id, index, g->second->status(index)});
  }
  for (AttemptRecord& a : fx.writes.attempts) {
    PutRow(batch.attempt_rows, writes.attempts, a.id, std::move(a));
  }
  for (OutputChunk& c : fx.writes.output) writes.output.push_back(std::move(c));
  std::vector<GraphId> finished;
  // A copy: the end of a graph is an event, which notes the graph in
  // fx.graphs again.
  const std::vector<GraphId> touched(fx.graphs.begin(), fx.graphs.end());
  for (GraphId graph_id : touched) {
    auto g = graphs_.find(graph_id);
    if (g == graphs_.end()) continue;
    GraphRun& run = *g->second;
    GraphRecord& record = run.mutable_record();
    if (run.finished()) {
      record.state = run.FinalState();
      record.finished_at_ms = clock_.NowMs();
      finished.push_back(graph_id);
      batch.urgent = true;  // clients wait for the end of their graphs
      AddEvent(run, -1, fx).graph_finished = true;
      spdlog::info("graph {} finished: {} ({} succeeded, {} failed, {} "
                   "skipped, {} cancelled)",
                   graph_id, GraphStateName(record.state), run.counts().succeeded,
                   run.counts().failed, run.counts().skipped,
                   run.counts().cancelled);
    }
    PutRow(batch.graph_rows, writes.graphs, graph_id,
           StoreWrites::GraphUpdate{graph_id, record.state,
                                    record.cancel_requested,
                                    record.finished_at_ms, record.sequence});
  }

  for (auto& [session_id, cancels] : fx.cancels) {
    auto s = sessions_.find(session_id);
    if (s == sessions_.end()) continue;
    Delivery d;
    d.conn = s->second.conn;
    d.cancels = std::move(cancels);
    QueueDelivery(std::move(d), /*urgent=*/true);
  }
  for (auto& [session_id, assignments] : fx.assignments) {
    Delivery d;
    d.conn = sessions_.at(session_id).conn;
    d.assignments = std::move(assignments);
    batch.assigned_sessions.insert(session_id);
    QueueDelivery(std::move(d), /*urgent=*/false);  // see StartNextFor
  }
  for (const TaskEvent& e : fx.events) events_.Append(e);
  if (!fx.events.empty() && !watchers_.empty()) {
    for (auto& [watch_id, w] : watchers_) {
      Delivery d;
      d.watcher = w.watcher;
      for (const TaskEvent& e : fx.events) {
        if (w.graph_id == 0 || e.graph_id == w.graph_id) {
          d.batch.events.push_back(e);
        }
      }
      if (d.batch.events.empty()) continue;
      d.batch.cursor = events_.head();
      d.batch.end = w.graph_id != 0 &&
                    std::find(finished.begin(), finished.end(), w.graph_id) !=
                        finished.end();
      QueueDelivery(std::move(d), /*urgent=*/false);
    }
  }
  for (GraphId graph_id : finished) {
    auto g = graphs_.find(graph_id);
    const std::string& request_id = g->second->record().request_id;
    if (!request_id.empty()) {
      batch.finished_requests.emplace_back(request_id, graph_id);
    }
    graphs_.erase(g);
    absl::erase_if(watchers_, [&](const auto& entry) {
      return entry.second.graph_id == graph_id;  // (0 follows every graph)
    });
  }
  // Not batch.seq: an operation that changed nothing must not wait for a
  // batch that may stay empty.
  return LastBatchLocked();
}

void Coordinator::TouchPendingLocked() {
  if (pending_.opened == absl::InfinitePast()) pending_.opened = absl::Now();
}

void Coordinator::QueueDelivery(Delivery d, bool urgent) {
  TouchPendingLocked();
  pending_.urgent |= urgent;
  pending_.deliveries.push_back(std::move(d));
}

uint64_t Coordinator::LastBatchLocked() const {
  return pending_.empty() ? pending_.seq - 1 : pending_.seq;
}

void Coordinator::Finish(uint64_t seq, bool wait_durable) {
  if (!options_.background_commit) {
    CommitPending();  // commits `seq`, or waits for the thread that does
    return;
  }
  if (!wait_durable) return;
  absl::MutexLock lock(&mu_);
  if (pending_.seq == seq) pending_.urgent = true;  // a caller waits for it
  auto committed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return committed_seq_ >= seq;
  };
  mu_.Await(absl::Condition(&committed));
}

void Coordinator::Flush() {
  uint64_t seq;
  {
    absl::MutexLock lock(&mu_);
    seq = LastBatchLocked();
  }
  Finish(seq, /*wait_durable=*/true);
}

void Coordinator::CommitLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto work = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !pending_.empty() || stop_committing_;
      };
      mu_.Await(absl::Condition(&work));
      if (pending_.empty()) return;  // stopping, and nothing left to commit
      // Let the batch gather more changes while nobody waits for it.
      auto due = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return pending_.urgent || stop_committing_;
      };
      mu_.AwaitWithDeadline(absl::Condition(&due),
                            pending_.opened + options_.max_commit_delay);
    }
    CommitPending();
  }
}

void Coordinator::CommitPending() {
  absl::MutexLock committing(&commit_mu_);
  Batch batch;
  {
    absl::MutexLock lock(&mu_);
    if (pending_.empty()) return;
    batch = std::move(pending_);
    pending_ = Batch();
    pending_.seq = batch.seq + 1;
    for (SessionId id : batch.assigned_sessions) {
      auto session = sessions_.find(id);
      if (session != sessions_.end()) session->second.unsent = 0;
    }
  }
  // Real time, not clock_: a fake clock in tests does not see the disk.
  const absl::Time commit_start = absl::Now();
  absl::Status status = store_.Commit(batch.writes);
  if (!batch.writes.empty()) {  // an empty one writes nothing
    metrics_.Committed(absl::Now() - commit_start, batch.writes);
  }
  if (!status.ok()) {
    // Memory already holds the change; continuing would acknowledge state
    // the database does not have. Stop; a restart recovers from the last
    // commit.
    spdlog::critical("cannot commit to {}: {}; stopping", store_.path(),
                     status.ToString());
    std::abort();
  }
  WriteDecisions(batch.decisions);
  for (Delivery& d : batch.deliveries) {
    if (d.conn != nullptr && d.registered != 0) {
      d.conn->OnRegistered(d.registered, options_.heartbeat_interval);
    } else if (d.conn != nullptr && d.close.has_value()) {
      d.conn->Close(*d.close);
    } else if (d.conn != nullptr &&
               (!d.assignments.empty() || !d.cancels.empty())) {
      // (Both empty: its assignments were dropped with its session.)
      d.conn->Send(std::move(d.assignments), std::move(d.cancels));
    }
    if (d.watcher != nullptr) d.watcher->OnEvents(std::move(d.batch));
  }
  absl::MutexLock lock(&mu_);
  committed_seq_ = batch.seq;
  for (const auto& [request_id, graph_id] : batch.finished_requests) {
    auto it = request_ids_.find(request_id);
    // A retried graph is back in memory: its entry stays.
    if (it != request_ids_.end() && it->second == graph_id &&
        !graphs_.contains(graph_id)) {
      request_ids_.erase(it);
      ++request_ids_removed_;
    }
  }
}

}  // namespace vitte::task
