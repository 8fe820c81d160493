#include "coordinator/event_log.h"

#include <algorithm>

namespace vitte::task {

EventLog::EventLog(size_t capacity, uint64_t head)
    : capacity_(std::max<size_t>(capacity, 1)), floor_(head), head_(head) {}

void EventLog::Append(const TaskEvent& e) {
  if (events_.size() == capacity_) {
    floor_ = events_.front().sequence;
    events_.pop_front();
  }
  events_.push_back(e);
  head_ = e.sequence;
}

std::vector<TaskEvent> EventLog::Since(uint64_t after, GraphId graph_id) const {
  std::vector<TaskEvent> out;
  auto first = std::upper_bound(
      events_.begin(), events_.end(), after,
      [](uint64_t seq, const TaskEvent& e) { return seq < e.sequence; });
  for (auto it = first; it != events_.end(); ++it) {
    if (graph_id == 0 || it->graph_id == graph_id) out.push_back(*it);
  }
  return out;
}

}  // namespace vitte::task
