#include "coordinator/ready_queue.h"

#include "common/codec.h"

namespace vitte::task {

void ReadyQueue::Push(const Labels& required, ReadyEntry entry) {
  std::string key = required.empty() ? std::string() : codec::EncodeMap(required);
  Bucket& bucket = buckets_[key];
  if (bucket.heap.empty()) bucket.required = required;
  bucket.heap.push(entry);
  ++size_;
}

std::optional<ReadyEntry> ReadyQueue::PopFor(const Labels& worker_labels,
                                             const Labels& serve_labels) {
  Bucket* best = nullptr;
  for (auto& [key, bucket] : buckets_) {
    if (bucket.heap.empty() ||
        !WorkerTakes(bucket.required, worker_labels, serve_labels)) {
      continue;
    }
    if (best == nullptr || Later()(best->heap.top(), bucket.heap.top())) {
      best = &bucket;
    }
  }
  if (best == nullptr) return std::nullopt;
  ReadyEntry entry = best->heap.top();
  best->heap.pop();
  --size_;
  return entry;
}

}  // namespace vitte::task
