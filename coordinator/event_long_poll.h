// One long poll on the coordinator's events: follow a graph from a cursor,
// wait until something happened, hand back what arrived as one batch. The
// dashboard's GET /api/graphs/ID/events is this plus JSON; no HTTP here.
#ifndef VITTE_COORDINATOR_EVENT_LONG_POLL_H_
#define VITTE_COORDINATOR_EVENT_LONG_POLL_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/coordinator.h"
#include "coordinator/types.h"

namespace vitte::task {

// Thread-safe: Poll may run on many threads at once, Shutdown from any.
class EventLongPoll {
 public:
  // A waiting poll holds a thread of the HTTP server (8 in all) for up to
  // its wait: past this many waiting at once, a poll answers at once with
  // what it has, so that long polls cannot take every thread.
  static constexpr int kDefaultMaxWaiting = 4;

  // `coordinator` must outlive this object.
  explicit EventLongPoll(Coordinator& coordinator,
                         int max_waiting = kDefaultMaxWaiting)
      : coordinator_(coordinator), max_waiting_(max_waiting) {}

  // The events of graph `graph_id` (0: of every graph) after sequence
  // `after`, as Coordinator::Follow delivers them: returns once at least
  // one event arrived or the graph ended, or once `wait` passed (then
  // without events), every batch received merged into one: events in
  // order, cursor of the last batch, compacted if any batch was, end if
  // the graph ended. Returns at once, with what Follow delivered first,
  // when `wait` is zero, when max_waiting polls already wait, or after
  // Shutdown. Errors are Follow's: NOT_FOUND for an unknown graph,
  // INVALID_ARGUMENT for a cursor the coordinator never reached,
  // UNAVAILABLE when events come too fast to catch up with.
  absl::StatusOr<EventBatch> Poll(GraphId graph_id, uint64_t after,
                                  absl::Duration wait);

  // Wakes every waiting Poll (they answer with what they have) and makes
  // later ones return at once: the HTTP server waits for its handlers
  // before it stops.
  void Shutdown();

  // How many polls wait now (for tests and bounds).
  int waiting() const;

 private:
  class Collector;

  Coordinator& coordinator_;
  const int max_waiting_;
  mutable absl::Mutex mu_;
  // The polls that wait now, to wake on Shutdown.
  absl::flat_hash_set<std::shared_ptr<Collector>> waiting_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_EVENT_LONG_POLL_H_
