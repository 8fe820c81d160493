// The most recent events of every graph, in sequence order, so that a
// follower that reconnects is sent exactly the changes it missed. Older
// ones are dropped; a follower further behind gets a compacted catch-up
// from the store instead (see Coordinator::Follow).
#ifndef VITTE_COORDINATOR_EVENT_LOG_H_
#define VITTE_COORDINATOR_EVENT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "coordinator/types.h"

namespace vitte::task {

// Not thread-safe; owned and locked by the Coordinator.
class EventLog {
 public:
  // Keeps up to `capacity` events. `head` is the sequence of the last event
  // made before this log existed (by an earlier run of the daemon): those
  // are not in the log.
  EventLog(size_t capacity, uint64_t head);

  // `e.sequence` must be greater than head().
  void Append(const TaskEvent& e);
  uint64_t head() const { return head_; }
  // Every event after `after` is in the log.
  bool Covers(uint64_t after) const { return after >= floor_ && after <= head_; }
  // The events after `after`, of graph `graph_id` (0: of every graph), in
  // order. Requires Covers(after).
  std::vector<TaskEvent> Since(uint64_t after, GraphId graph_id) const;

 private:
  size_t capacity_;
  std::deque<TaskEvent> events_;
  // Events up to floor_ are gone (or were never here).
  uint64_t floor_;
  uint64_t head_;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_EVENT_LOG_H_
