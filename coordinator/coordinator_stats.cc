// Coordinator::Stats: what the coordinator holds, for the gauges of its
// metrics. Apart from coordinator.cc so that metrics stay out of the way of
// the scheduling code.
#include <algorithm>

#include "coordinator/coordinator.h"

namespace vitte::task {

CoordinatorStats Coordinator::Stats() {
  CoordinatorStats s;
  absl::MutexLock lock(&mu_);
  // One pass over graphs and sessions, not tasks: each graph keeps its
  // counts, so a scrape costs the same for a graph of a million tasks.
  for (const auto& [id, run] : graphs_) {
    const TaskCounts& c = run->counts();
    s.tasks.pending += c.pending;
    s.tasks.ready += c.ready;
    s.tasks.running += c.running;
    s.tasks.succeeded += c.succeeded;
    s.tasks.failed += c.failed;
    s.tasks.skipped += c.skipped;
    s.tasks.cancelled += c.cancelled;
  }
  s.graphs_running = static_cast<int64_t>(graphs_.size());
  s.ready_queue_depth = static_cast<int64_t>(ready_.size());
  s.attempts_running = static_cast<int64_t>(attempts_.size());
  for (const auto& [id, session] : sessions_) {
    if (!session.connected) {
      ++s.workers_disconnected;
      continue;
    }
    ++s.workers_connected;
    const int64_t slots = session.registration.slots;
    s.slots += slots;
    s.slots_busy +=
        std::min<int64_t>(static_cast<int64_t>(session.running.size()), slots);
  }
  return s;
}

}  // namespace vitte::task
