// The worker-facing half of Coordinator: sessions, leases, results.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator.h"
#include "coordinator/decision_log.h"
#include "spdlog/spdlog.h"

namespace vitte::task {

absl::StatusOr<SessionId> Coordinator::OpenSession(
    WorkerRegistration registration, std::shared_ptr<WorkerConnection> conn) {
  if (registration.name.empty()) {
    return absl::InvalidArgumentError("worker registered without a name");
  }
  if (registration.slots <= 0 || registration.slots > 100'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker \"", registration.name, "\" registered with ",
                     registration.slots, " slots; expected 1..100000"));
  }
  if (registration.prefetch < 0 || registration.prefetch > 100'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker \"", registration.name, "\" asked for a prefetch of ",
                     registration.prefetch, "; expected 0..100000"));
  }
  // A serve-label is also a label, so that the tasks it asks for match.
  if (absl::Status merged =
          MergeServeLabels(registration.serve_labels, registration.labels);
      !merged.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker \"", registration.name, "\": ", merged.message()));
  }
  SessionId id;
  uint64_t seq = 0;
  {
    absl::MutexLock lock(&mu_);
    Effects fx;
    id = ++last_session_id_;
    const std::string& name = registration.name;
    absl::flat_hash_set<AttemptId> held(registration.held_attempts.begin(),
                                        registration.held_attempts.end());
    // Attempts of this worker from an earlier session, or from before a
    // coordinator restart: those it still holds move to the new session
    // (their results will be accepted); the others died with the worker's
    // previous process and are lost at once rather than at lease expiry.
    std::vector<AttemptId> adopted, forgotten;
    for (const auto& [attempt_id, ref] : attempts_) {
      if (ref.record.worker != name) continue;
      (held.contains(attempt_id) ? adopted : forgotten).push_back(attempt_id);
    }
    std::sort(forgotten.begin(), forgotten.end());
    for (AttemptId a : forgotten) {
      LoseAttempt(a, absl::StrCat("worker \"", name,
                                  "\" came back without it"), fx);
    }
    Session& s = sessions_[id];
    for (AttemptId a : adopted) {
      AttemptRef& ref = attempts_.at(a);
      auto old = sessions_.find(ref.session_id);
      if (old != sessions_.end()) old->second.running.erase(a);
      ref.session_id = id;
      s.running.insert(a);
      held.erase(a);
    }
    auto previous = session_by_name_.find(name);
    if (previous != session_by_name_.end()) {
      // A namesake still connected is a stale process (or an operator
      // mistake): tell it to stop and let it go.
      auto old = sessions_.find(previous->second);
      if (old != sessions_.end() && old->second.connected) {
        CloseStream(old->second,
                    absl::AbortedError(absl::StrCat(
                        "worker \"", name, "\" opened a new session")));
      }
      EraseSession(previous->second);
    }
    spdlog::info(
        "worker \"{}\" connected: session {}, {} slots, {} attempts "
        "kept, {} re-queued{}",
        name, id, registration.slots, adopted.size(), forgotten.size(),
        registration.serve_labels.empty()
            ? std::string()
            : absl::StrCat("; serves only tasks labelled ",
                           FormatLabels(registration.serve_labels, ",")));
    session_by_name_[name] = id;
    s.id = id;
    s.registration = std::move(registration);
    s.conn = conn;
    s.connected_at_ms = clock_.NowMs();
    s.last_seen = clock_.Now();
    Delivery hello;
    hello.conn = conn;
    hello.registered = id;
    QueueDelivery(std::move(hello), /*urgent=*/true);
    // What the worker holds that is no longer current must stop.
    if (!held.empty()) {
      std::vector<AttemptId> stale(held.begin(), held.end());
      std::sort(stale.begin(), stale.end());
      spdlog::info("worker \"{}\" holds {} attempts that are no longer "
                   "its own (first: {}); told to stop them",
                   s.registration.name, stale.size(), stale.front());
      fx.cancels[id] = std::move(stale);
    }
    Dispatch(fx);
    seq = Apply(fx);
  }
  Finish(seq, /*wait_durable=*/false);
  return id;
}

int Coordinator::Report(SessionId session,
                        const std::vector<AttemptOutcome>& results) {
  int fenced = 0;
  uint64_t seq = 0;
  {
    absl::MutexLock lock(&mu_);
    auto s = sessions_.find(session);
    if (s != sessions_.end()) s->second.last_seen = clock_.Now();
    Effects fx;
    for (const AttemptOutcome& r : results) {
      auto it = attempts_.find(r.attempt_id);
      if (it == attempts_.end() || it->second.session_id != session) {
        // Not a running attempt of this session: it was lost, cancelled or
        // already reported, and a newer attempt may own the task.
        TaskDecision d{"fenced"};
        d.attempt = r.attempt_id;
        if (it != attempts_.end()) {
          d.graph = it->second.graph_id;
          d.task = graphs_.at(d.graph)->task(it->second.task_index).id;
        }
        d.worker = s != sessions_.end() ? absl::string_view(
                                              s->second.registration.name)
                                        : absl::string_view();
        d.details = absl::StrCat(
            "session=", session,
            " reason=\"not a current attempt of this session\"");
        NoteDecision(spdlog::level::warn, d, fx.decisions);
        ++fenced;
        metrics_.results_fenced.Increment();
        continue;
      }
      GraphId graph_id = it->second.graph_id;
      int32_t index = it->second.task_index;
      AttemptRecord a = FinishAttempt(
          r.attempt_id,
          r.success ? AttemptState::kSucceeded : AttemptState::kFailed,
          r.error);
      a.exit_code = r.exit_code;
      a.signal = r.signal;
      a.timed_out = r.timed_out;
      a.stdout_tail = r.stdout_tail;
      a.stderr_tail = r.stderr_tail;
      a.stdout_bytes = r.stdout_bytes;
      a.stderr_bytes = r.stderr_bytes;
      // Both ends of an attempt are stamped with the coordinator's clock
      // (dispatch, then result received); workers' clocks may disagree.
      GraphRun& run = *graphs_.at(graph_id);
      std::vector<TaskChange> changes;
      TaskDecision d{"succeeded", graph_id, run.task(index).id, a.id, a.worker};
      if (r.success) {
        run.Succeed(index, changes);
        NoteDecision(spdlog::level::debug, d, fx.decisions);
      } else {
        // Exponential backoff: retry_backoff, then twice that, and so on.
        int failures = run.status(index).failures;  // before this one
        absl::Duration delay = std::min(
            options_.retry_backoff * (int64_t{1} << std::min(failures, 30)),
            options_.max_retry_backoff);
        d.details = absl::StrCat("exit_code=", a.exit_code,
                                 a.signal != 0 ? absl::StrCat(" signal=", a.signal) : "",
                                 a.timed_out ? " timed_out=true" : "",
                                 a.error.empty() ? "" : " ",
                                 a.error.empty() ? "" : LogfmtPair("error", a.error));
        if (run.Fail(index, changes, clock_.NowMs() + absl::ToInt64Milliseconds(delay))) {
          d.decision = "failed";
          absl::StrAppend(&d.details, " attempts=", run.status(index).attempts);
          NoteDecision(spdlog::level::warn, d, fx.decisions);
        } else {
          metrics_.task_retries.Increment();
          d.decision = "retried";
          absl::StrAppend(&d.details, " ",
                          LogfmtPair("retry_in", absl::FormatDuration(delay)));
          NoteDecision(spdlog::level::info, d, fx.decisions);
        }
      }
      Record(run, changes, &a, fx);
      fx.writes.attempts.push_back(std::move(a));
    }
    Dispatch(fx);
    // Assignments that waited for more changes must leave now if this
    // worker just ran out of work (see StartNextFor).
    if (s != sessions_.end() && s->second.unsent > 0 &&
        static_cast<int>(s->second.running.size()) - s->second.unsent <
            s->second.registration.slots) {
      fx.urgent = true;
    }
    seq = Apply(fx);
  }
  Finish(seq, /*wait_durable=*/false);
  return fenced;
}

bool Coordinator::Heartbeat(SessionId session) {
  absl::MutexLock lock(&mu_);
  auto s = sessions_.find(session);
  if (s == sessions_.end()) return false;
  s->second.last_seen = clock_.Now();
  return true;
}

void Coordinator::Drain(SessionId session) {
  absl::MutexLock lock(&mu_);
  auto s = sessions_.find(session);
  if (s == sessions_.end() || s->second.draining) return;
  s->second.draining = true;
  s->second.last_seen = clock_.Now();
  spdlog::info("worker \"{}\" is draining: no new task, {} running",
               s->second.registration.name, s->second.running.size());
}

void Coordinator::Goodbye(SessionId session) {
  uint64_t seq = 0;
  {
    absl::MutexLock lock(&mu_);
    auto s = sessions_.find(session);
    if (s == sessions_.end()) return;
    Effects fx;
    std::vector<AttemptId> held(s->second.running.begin(),
                                s->second.running.end());
    std::sort(held.begin(), held.end());
    std::string why =
        absl::StrCat("handed back by worker \"", s->second.registration.name,
                     "\", which stopped");
    for (AttemptId a : held) RequeueAttempt(a, why, fx);
    spdlog::info("worker \"{}\" left; {} attempts re-queued",
                 s->second.registration.name, held.size());
    EraseSession(session);
    Dispatch(fx);
    seq = Apply(fx);
  }
  Finish(seq, /*wait_durable=*/false);
}

void Coordinator::CloseSession(SessionId session) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  auto s = sessions_.find(session);
  if (s == sessions_.end()) return;  // replaced, lost or gone
  s->second.connected = false;
  s->second.disconnected_at = clock_.Now();
  spdlog::info("worker \"{}\" disconnected; its {} attempts wait up to {} "
               "for it to come back",
               s->second.registration.name, s->second.running.size(),
               absl::FormatDuration(options_.reconnect_grace));
}

void Coordinator::Tick() {
  uint64_t seq = 0;
  {
    absl::MutexLock lock(&mu_);
    Effects fx;
    const absl::Time now = clock_.Now();
    std::vector<SessionId> expired;
    for (const auto& [id, s] : sessions_) {
      if (now - s.last_seen > options_.lease_timeout ||
          (!s.connected &&
           now - s.disconnected_at > options_.reconnect_grace)) {
        expired.push_back(id);
      }
    }
    std::sort(expired.begin(), expired.end());
    for (SessionId id : expired) {
      Session& s = sessions_.at(id);
      std::string why =
          s.connected
              ? absl::StrCat("worker \"", s.registration.name,
                             "\" sent nothing for ",
                             absl::FormatDuration(now - s.last_seen),
                             " (lease ",
                             absl::FormatDuration(options_.lease_timeout), ")")
              : absl::StrCat("worker \"", s.registration.name,
                             "\" did not come back within ",
                             absl::FormatDuration(options_.reconnect_grace),
                             " after its stream broke");
      std::vector<AttemptId> running(s.running.begin(), s.running.end());
      std::sort(running.begin(), running.end());
      for (AttemptId a : running) LoseAttempt(a, why, fx);
      // A frozen worker may wake up: its stream ends now, and when it comes
      // back it learns that these attempts are no longer its own.
      if (s.connected) CloseStream(s, absl::UnavailableError(why));
      spdlog::warn("session {} lost: {}", id, why);
      EraseSession(id);
    }
    if (now >= orphans_deadline_ && orphans_deadline_ != absl::InfinitePast()) {
      std::vector<AttemptId> orphans;
      for (const auto& [id, ref] : attempts_) {
        if (ref.session_id == 0) orphans.push_back(id);
      }
      std::sort(orphans.begin(), orphans.end());
      for (AttemptId a : orphans) {
        LoseAttempt(a,
                    absl::StrCat("worker \"", attempts_.at(a).record.worker,
                                 "\" did not come back after the coordinator "
                                 "restarted"),
                    fx);
      }
      orphans_deadline_ = absl::InfinitePast();
    }
    const int64_t now_ms = absl::ToUnixMillis(now);
    while (!delayed_.empty() && delayed_.top().ready_at_ms <= now_ms) {
      Delayed d = delayed_.top();
      delayed_.pop();
      auto g = graphs_.find(d.graph_id);
      if (g == graphs_.end()) continue;
      const GraphRun& run = *g->second;
      // Skip entries of tasks cancelled (or retried again) meanwhile.
      if (run.status(d.task_index).state != TaskState::kReady ||
          run.status(d.task_index).not_before_ms != d.ready_at_ms) {
        continue;
      }
      const TaskSpec& spec = run.task(d.task_index);
      // Ready since its backoff ended (the entries of the rebuild in
      // CompactReadyQueue below have no time: their latency is not
      // recorded).
      ready_.Push(spec.labels, {spec.priority, d.graph_id, d.task_index,
                                d.ready_at_ms * 1000});
    }
    CompactReadyQueue();
    Dispatch(fx);
    seq = Apply(fx);
  }
  Finish(seq, /*wait_durable=*/false);
}

void Coordinator::CompactReadyQueue() {
  // Entries are removed lazily, and those that no worker can take (labels
  // nobody offers, tasks of finished graphs) would pile up. When most of the
  // queue is stale, rebuild it from the graphs.
  int64_t ready = 0;
  for (const auto& [id, run] : graphs_) ready += run->counts().ready;
  if (ready_.size() < 1024 || static_cast<int64_t>(ready_.size()) < 2 * ready) {
    return;
  }
  ready_.Clear();
  const int64_t now = clock_.NowMs();
  for (const auto& [id, run] : graphs_) {
    for (int32_t i : run->ReadyTasks()) {
      if (run->status(i).not_before_ms > now) continue;  // in delayed_
      ready_.Push(run->task(i).labels, {run->task(i).priority, id, i});
    }
  }
}

AttemptRecord Coordinator::FinishAttempt(AttemptId id, AttemptState state,
                                         const std::string& error) {
  auto it = attempts_.find(id);
  AttemptRecord a = std::move(it->second.record);
  auto session = sessions_.find(it->second.session_id);
  if (session != sessions_.end()) session->second.running.erase(id);
  attempts_.erase(it);
  a.state = state;
  a.error = error;
  a.finished_at_ms = clock_.NowMs();
  metrics_.AttemptEnded(a);
  return a;
}

void Coordinator::LoseAttempt(AttemptId id, const std::string& why,
                              Effects& fx) {
  EndUnreported(id, why, /*count_loss=*/true, fx);
}

void Coordinator::RequeueAttempt(AttemptId id, const std::string& why,
                                 Effects& fx) {
  EndUnreported(id, why, /*count_loss=*/false, fx);
}

void Coordinator::EndUnreported(AttemptId id, const std::string& why,
                                bool count_loss, Effects& fx) {
  const AttemptRef& ref = attempts_.at(id);
  GraphRun& run = *graphs_.at(ref.graph_id);
  const int32_t index = ref.task_index;
  AttemptRecord a = FinishAttempt(id, AttemptState::kLost, why);
  std::vector<TaskChange> changes;
  bool failed = false;
  if (count_loss) {
    metrics_.attempts_lost.Increment();
    failed = run.Lose(index, options_.max_lost_attempts, changes);
  } else {
    metrics_.attempts_requeued.Increment();
    run.Requeue(index, changes);
  }
  TaskDecision d{count_loss ? "lost" : "requeued", a.graph_id,
                 run.task(index).id, id, a.worker, LogfmtPair("reason", why)};
  if (failed) {
    a.error = absl::StrCat(why, "; the task lost its worker ",
                           run.status(index).lost,
                           " times and is not retried again (poison task?)");
    absl::StrAppend(&d.details, " lost=", run.status(index).lost,
                    " failed_for_good=true");
  }
  NoteDecision(count_loss ? spdlog::level::warn : spdlog::level::info, d,
               fx.decisions);
  Record(run, changes, &a, fx);
  fx.writes.attempts.push_back(std::move(a));
}

void Coordinator::CloseStream(const Session& session, absl::Status why) {
  Delivery d;
  d.conn = session.conn;
  d.close = std::move(why);
  QueueDelivery(std::move(d), /*urgent=*/true);
}

void Coordinator::EraseSession(SessionId session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  // Its assignments still waiting for their commit must not leave: their
  // attempts were ended (or handed on) before the session was erased, and a
  // frozen worker that wakes up would otherwise start them.
  for (Delivery& d : pending_.deliveries) {
    if (d.conn == it->second.conn) d.assignments.clear();
  }
  auto by_name = session_by_name_.find(it->second.registration.name);
  if (by_name != session_by_name_.end() && by_name->second == session) {
    session_by_name_.erase(by_name);
  }
  sessions_.erase(it);
}

}  // namespace vitte::task
