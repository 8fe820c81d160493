#include "coordinator/ready_queue.h"

#include "common/codec.h"

namespace vitte::task {

bool LabelsMatch(const Labels& required, const Labels& worker) {
  for (const auto& [key, value] : required) {
    auto it = worker.find(key);
    if (it == worker.end() || it->second != value) return false;
  }
  return true;
}

void ReadyQueue::Push(const Labels& required, ReadyEntry entry) {
  std::string key = required.empty() ? std::string() : codec::EncodeMap(required);
  Bucket& bucket = buckets_[key];
  if (bucket.heap.empty()) bucket.required = required;
  bucket.heap.push(entry);
  ++size_;
}

std::optional<ReadyEntry> ReadyQueue::PopFor(const Labels& worker_labels) {
  Bucket* best = nullptr;
  for (auto& [key, bucket] : buckets_) {
    if (bucket.heap.empty() || !LabelsMatch(bucket.required, worker_labels)) {
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
