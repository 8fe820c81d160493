// Ready tasks of every graph, handed out highest priority first, then in
// submission order, to workers whose labels satisfy the task's (and whose
// serve-labels the task's labels satisfy, see WorkerTakes).
#ifndef VITTE_COORDINATOR_READY_QUEUE_H_
#define VITTE_COORDINATOR_READY_QUEUE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/labels.h"
#include "coordinator/types.h"

namespace vitte::task {

struct ReadyEntry {
  int32_t priority = 0;
  GraphId graph_id = 0;
  int32_t task_index = 0;
  // When the task became ready (Unix µs), for the dispatch latency metric;
  // 0 when unknown. Plays no part in the order.
  int64_t ready_at_us = 0;
};

// Tasks are grouped by the exact label set they require, one heap per set,
// so picking for a worker costs O(distinct label sets + log n), not O(n):
// both label checks (WorkerTakes) depend only on a bucket's label set.
// Entries are removed lazily: the caller re-checks that a popped task is
// still ready. Not thread-safe; owned and locked by the Coordinator.
class ReadyQueue {
 public:
  void Push(const Labels& required, ReadyEntry entry);
  // Removes and returns the best entry that a worker with `worker_labels`
  // and `serve_labels` may run (WorkerTakes), or nothing.
  std::optional<ReadyEntry> PopFor(const Labels& worker_labels,
                                   const Labels& serve_labels = {});
  // Entries, stale ones included.
  size_t size() const { return size_; }
  void Clear() {
    buckets_.clear();
    size_ = 0;
  }

 private:
  // Orders a heap so that top() is the highest priority, then the earliest
  // graph, then the earliest task.
  struct Later {
    bool operator()(const ReadyEntry& a, const ReadyEntry& b) const {
      if (a.priority != b.priority) return a.priority < b.priority;
      if (a.graph_id != b.graph_id) return a.graph_id > b.graph_id;
      return a.task_index > b.task_index;
    }
  };
  struct Bucket {
    Labels required;
    std::priority_queue<ReadyEntry, std::vector<ReadyEntry>, Later> heap;
  };
  // Keyed by an encoding of the label set; most graphs use one or two.
  absl::flat_hash_map<std::string, Bucket> buckets_;
  size_t size_ = 0;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_READY_QUEUE_H_
