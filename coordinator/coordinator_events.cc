// The Coordinator's events: numbering them, and following them live or
// from a sequence number (see Coordinator::Follow).
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"

namespace vitte::task {
namespace {

// The state now of what `changes` holds, as events: for each graph, an
// event about the graph (first while it runs, last once it finished, so
// that graph_finished ends the batch) and one per changed task.
std::vector<TaskEvent> CompactedEvents(const StoredChanges& changes,
                                       uint64_t after, int64_t now_ms) {
  std::vector<TaskEvent> events;
  for (const StoredChanges::Graph& g : changes.graphs) {
    const GraphRecord& r = g.record;
    auto graph_event = [&] {
      TaskEvent& e = events.emplace_back();
      e.sequence = r.sequence;
      e.graph_id = r.id;
      e.graph_name = r.name;
      e.counts = g.counts;
      e.graph_state = r.state;
      e.graph_finished = r.state != GraphState::kRunning;
      e.time_ms = e.graph_finished ? r.finished_at_ms : now_ms;
    };
    // Nothing changed since `after`: nothing to say (a follower resuming
    // after a graph's end is not told the end again).
    if (g.tasks.empty() && after != 0 && r.sequence <= after) continue;
    if (r.state == GraphState::kRunning) graph_event();
    for (const StoredChanges::Task& t : g.tasks) {
      TaskEvent& e = events.emplace_back();
      e.sequence = t.status.sequence;
      e.graph_id = r.id;
      e.task_index = t.index;
      e.task_id = t.id;
      e.task_state = t.status.state;
      e.skipped_because = t.skipped_because;
      e.counts = g.counts;
      e.graph_state = r.state;
      e.time_ms = now_ms;
      const AttemptRecord& a = t.last_attempt;
      if (a.id != 0) {
        // When the task's last change was made, as far as the store knows.
        e.time_ms = a.state == AttemptState::kRunning ? a.started_at_ms
                                                      : a.finished_at_ms;
        e.attempt_id = a.id;
        e.worker = a.worker;
        e.exit_code = a.exit_code;
        e.attempt_state = a.state;
        e.attempt_number = a.number;
        e.error = a.error;
      }
    }
    if (r.state != GraphState::kRunning) graph_event();
  }
  return events;
}

}  // namespace

TaskEvent& Coordinator::AddEvent(GraphRun& run, int32_t index, Effects& fx) {
  const uint64_t sequence = ++last_event_sequence_;
  GraphRecord& record = run.mutable_record();
  record.sequence = sequence;
  fx.graphs.insert(record.id);
  TaskEvent& e = fx.events.emplace_back();
  e.sequence = sequence;
  e.graph_id = record.id;
  e.task_index = index;
  e.counts = run.counts();
  e.graph_state = record.state;
  e.time_ms = clock_.NowMs();
  if (index >= 0) {
    run.SetSequence(index, sequence);
    fx.tasks.insert({record.id, index});
    e.task_id = run.task(index).id;
    e.task_state = run.status(index).state;
  } else {
    e.graph_name = record.name;
  }
  return e;
}

absl::StatusOr<uint64_t> Coordinator::Follow(
    GraphId graph_id, uint64_t after, std::shared_ptr<GraphWatcher> watcher) {
  uint64_t watch_id = 0;
  uint64_t seq = 0;
  {
    absl::MutexLock lock(&mu_);
    if (after > events_.head()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot resume after event ", after, ": the last event is ",
          events_.head()));
    }
    if (graph_id == 0 && after == 0) after = events_.head();  // from now on
    // (after = 0 for one graph asks for its snapshot, below.)
    if ((after != 0 || graph_id == 0) && events_.Covers(after)) {
      EventBatch batch;
      batch.events = events_.Since(after, graph_id);
      // A graph not in memory has finished. Memory has all it did after
      // `after` if it has its end; without any event of it, it may have
      // finished long before, or never existed: the store tells.
      const bool known = graph_id == 0 || graphs_.contains(graph_id) ||
                         (!batch.events.empty() &&
                          batch.events.back().graph_finished);
      if (known) {
        batch.cursor = events_.head();
        watch_id = StartFollowingLocked(graph_id, std::move(batch),
                                        std::move(watcher));
        seq = LastBatchLocked();
      }
    }
  }
  // Either way, returns once the first batch was delivered.
  if (watch_id != 0) {
    Finish(seq, /*wait_durable=*/true);
    return watch_id;
  }
  // Compacted: the store's state, then the events made since its snapshot,
  // which must still be in memory; a few tries, in case events come so
  // fast that they are dropped before the store is read.
  for (int tries = 0; tries < 3 && watch_id == 0; ++tries) {
    Flush();  // the store then has every event made before this call
    ASSIGN_OR_RETURN(StoredChanges changes,
                     store_.ReadChangesSince(graph_id, after));
    EventBatch batch;
    batch.compacted = true;
    batch.events = CompactedEvents(changes, after, clock_.NowMs());
    absl::MutexLock lock(&mu_);
    if (!events_.Covers(changes.head)) continue;
    for (TaskEvent& e : events_.Since(changes.head, graph_id)) {
      batch.events.push_back(std::move(e));
    }
    batch.cursor = events_.head();
    watch_id =
        StartFollowingLocked(graph_id, std::move(batch), std::move(watcher));
    seq = LastBatchLocked();
  }
  if (watch_id == 0) {
    return absl::UnavailableError(
        "events are made faster than they can be caught up with; try again");
  }
  Finish(seq, /*wait_durable=*/true);
  return watch_id;
}

uint64_t Coordinator::StartFollowingLocked(
    GraphId graph_id, EventBatch batch, std::shared_ptr<GraphWatcher> watcher) {
  const uint64_t watch_id = ++last_watch_id_;
  batch.end = graph_id != 0 && !graphs_.contains(graph_id);
  if (!batch.end) watchers_[watch_id] = {graph_id, watcher};
  Delivery d;
  d.watcher = std::move(watcher);
  d.batch = std::move(batch);
  // Queued behind the deliveries of the pending batch, whose events the
  // batch already holds (events_ has them): it must not repeat them, and
  // it is sent once they are committed.
  QueueDelivery(std::move(d), /*urgent=*/true);
  return watch_id;
}

void Coordinator::Unwatch(uint64_t watch_id) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watch_id);
}

}  // namespace vitte::task
