#include "coordinator/event_long_poll.h"

#include <utility>
#include <vector>

#include "common/status_macros.h"

namespace vitte::task {

// The watcher of one poll: gathers the batches Follow delivers until the
// poll takes them. Thread-safe (the coordinator delivers on its commit
// thread, the poll waits on an HTTP thread).
class EventLongPoll::Collector : public GraphWatcher {
 public:
  void OnEvents(EventBatch batch) override {
    absl::MutexLock lock(&mu_);
    // After Take the poll has answered with an earlier cursor: what comes
    // now is for its next poll, which Follow gives again from there.
    if (taken_) return;
    for (TaskEvent& e : batch.events) merged_.events.push_back(std::move(e));
    merged_.cursor = batch.cursor;
    merged_.compacted = merged_.compacted || batch.compacted;
    merged_.end = merged_.end || batch.end;
  }

  // Ends the wait of Take now.
  void Wake() {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  }

  // Waits until an event or the end arrived, Wake was called, or
  // `deadline` passed; returns what arrived and ignores what comes after.
  EventBatch Take(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return woken_ || merged_.end || !merged_.events.empty();
    };
    mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    taken_ = true;
    return std::move(merged_);
  }

 private:
  absl::Mutex mu_;
  EventBatch merged_ ABSL_GUARDED_BY(mu_);
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool taken_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<EventBatch> EventLongPoll::Poll(GraphId graph_id,
                                               uint64_t after,
                                               absl::Duration wait) {
  auto collector = std::make_shared<Collector>();
  // Follow delivers its first batch (the catch-up, or nothing but a
  // cursor) before it returns.
  ASSIGN_OR_RETURN(uint64_t watch_id,
                   coordinator_.Follow(graph_id, after, collector));
  bool may_wait = false;
  {
    absl::MutexLock lock(&mu_);
    may_wait = !shut_down_ && wait > absl::ZeroDuration() &&
               static_cast<int>(waiting_.size()) < max_waiting_;
    if (may_wait) waiting_.insert(collector);
  }
  // Real time, not the coordinator's Clock: this bounds how long an HTTP
  // thread is held.
  EventBatch batch =
      collector->Take(may_wait ? absl::Now() + wait : absl::InfinitePast());
  if (may_wait) {
    absl::MutexLock lock(&mu_);
    waiting_.erase(collector);
  }
  coordinator_.Unwatch(watch_id);
  return batch;
}

void EventLongPoll::Shutdown() {
  std::vector<std::shared_ptr<Collector>> to_wake;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    to_wake.assign(waiting_.begin(), waiting_.end());
  }
  for (const std::shared_ptr<Collector>& c : to_wake) c->Wake();
}

int EventLongPoll::waiting() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiting_.size());
}

}  // namespace vitte::task
