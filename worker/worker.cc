#include "worker/worker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace vitte::task {

Worker::Worker(CommandRunner& runner, int slots, WorkerOutputOptions output,
               MetricsRegistry* metrics, Labels serve_labels)
    : runner_(runner),
      slots_(slots),
      serve_labels_(std::move(serve_labels)),
      output_options_(output),
      metrics_registry_(metrics) {
  if (metrics == nullptr) return;
  metrics_.started = &metrics->AddCounter(
      "vitte_worker_tasks_started_total",
      "Attempts this worker started (handed to its process runner).");
  CounterFamily& finished = metrics->AddCounterFamily(
      "vitte_worker_tasks_finished_total",
      "Attempts that ended on this worker, by outcome: succeeded, failed "
      "(non-zero exit or signal), timed_out, cancelled (by the coordinator, "
      "a drain or a stop), not_started (the command could not be spawned).",
      {"outcome"});
  metrics_.succeeded = &finished.WithLabels({"succeeded"});
  metrics_.failed = &finished.WithLabels({"failed"});
  metrics_.timed_out = &finished.WithLabels({"timed_out"});
  metrics_.cancelled = &finished.WithLabels({"cancelled"});
  metrics_.not_started = &finished.WithLabels({"not_started"});
  metrics_.slots = &metrics->AddGauge("vitte_worker_slots",
                                      "Tasks this worker runs at once.");
  metrics_.busy = &metrics->AddGauge("vitte_worker_slots_busy",
                                     "Slots running an attempt.");
  metrics_.queued = &metrics->AddGauge(
      "vitte_worker_queued",
      "Attempts waiting for a free slot (the coordinator's prefetch).");
  metrics_.slots->Set(slots);
  metrics_scrape_hook_ = metrics->AddScrapeHook([this] {
    absl::MutexLock lock(&mu_);
    metrics_.busy->Set(static_cast<int64_t>(running_.size()));
    metrics_.queued->Set(static_cast<int64_t>(queue_.size()));
  });
}

Worker::~Worker() {
  // First: a scrape from now on must not reach into a worker going away.
  if (metrics_registry_ != nullptr) {
    metrics_registry_->RemoveScrapeHook(metrics_scrape_hook_);
  }
  std::vector<uint64_t> running;
  {
    absl::MutexLock lock(&mu_);
    queue_.clear();
    running.assign(running_.begin(), running_.end());
  }
  Cancel(running);
  // The runner calls back into this object; wait until it has no more to
  // say so that no callback outlives us.
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_set<uint64_t>* r) { return r->empty(); },
      &running_));
}

void Worker::Assign(std::vector<WorkAssignment> assignments) {
  std::vector<WorkAssignment> starts;
  std::vector<std::string> refused;  // logged once the lock is released
  {
    absl::MutexLock lock(&mu_);
    for (WorkAssignment& a : assignments) {
      bool held = running_.contains(a.attempt_id);
      for (const WorkAssignment& q : queue_) held |= q.attempt_id == a.attempt_id;
      if (held) continue;
      if (!LabelsMatch(serve_labels_, a.labels)) {
        // A resent refused attempt whose result still waits: one is enough.
        for (const WorkResult& r : results_)
          held |= r.attempt_id == a.attempt_id;
        if (!held) {
          results_.push_back({a.attempt_id, Refusal(a)});
          refused.push_back(absl::StrCat("attempt ", a.attempt_id, " (",
                                         a.graph_id, " task \"", a.task_id,
                                         "\") ", results_.back().result.error));
        }
        continue;
      }
      queue_.push_back(std::move(a));
    }
    starts = FillSlotsLocked();
  }
  for (const std::string& line : refused) spdlog::warn("{}", line);
  if (metrics_.not_started != nullptr && !refused.empty()) {
    metrics_.not_started->Increment(refused.size());
  }
  StartAll(std::move(starts));
}

ProcessResult Worker::Refusal(const WorkAssignment& a) const {
  ProcessResult r;
  r.error = absl::StrCat(
      "refused by the worker: it serves only tasks labelled ",
      FormatLabels(serve_labels_, ","), " (--serve-label), and task \"",
      a.task_id, "\" has ",
      a.labels.empty() ? "no labels"
                       : absl::StrCat("labels ", FormatLabels(a.labels, ",")));
  r.started_at = r.finished_at = absl::Now();
  return r;
}

std::vector<WorkAssignment> Worker::FillSlotsLocked() {
  std::vector<WorkAssignment> starts;
  while (!queue_.empty() && static_cast<int>(running_.size()) < slots_) {
    running_.insert(queue_.front().attempt_id);
    written_[queue_.front().attempt_id] = {0, 0};
    starts.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return starts;
}

void Worker::StartAll(std::vector<WorkAssignment> starts) {
  for (WorkAssignment& a : starts) {
    const uint64_t id = a.attempt_id;
    spdlog::debug("attempt {} ({} task \"{}\") starting", id, a.graph_id,
                  a.task_id);
    a.process.on_output = [this, id](OutputStream stream,
                                     absl::string_view data) {
      OnOutput(id, stream, data);
    };
    if (metrics_.started != nullptr) metrics_.started->Increment();
    runner_.Start(id, std::move(a.process), [this, id](ProcessResult r) {
      OnDone(id, std::move(r));
    });
  }
}

Counter* Worker::OutcomeCounter(const ProcessResult& r) const {
  // Cancelled first: a runner shutting down reports runs it never started
  // (and timed-out ones it killed) as cancelled.
  if (r.cancelled) return metrics_.cancelled;
  if (!r.started) return metrics_.not_started;
  if (r.timed_out) return metrics_.timed_out;
  return r.success() ? metrics_.succeeded : metrics_.failed;
}

void Worker::OnDone(uint64_t attempt_id, ProcessResult result) {
  if (Counter* c = OutcomeCounter(result)) c->Increment();
  std::vector<WorkAssignment> starts;
  {
    absl::MutexLock lock(&mu_);
    running_.erase(attempt_id);
    written_.erase(attempt_id);
    if (cancelled_.erase(attempt_id) == 0) {
      results_.push_back({attempt_id, std::move(result)});
    }
    starts = FillSlotsLocked();
  }
  StartAll(std::move(starts));
}

void Worker::OnOutput(uint64_t attempt_id, OutputStream stream,
                      absl::string_view data) {
  absl::MutexLock lock(&mu_);
  auto it = written_.find(attempt_id);
  if (it == written_.end()) return;
  uint64_t& written = it->second[stream == OutputStream::kStdout ? 0 : 1];
  const uint64_t start = written;
  written += data.size();
  if (start >= output_limit_ || cancelled_.contains(attempt_id)) return;
  data = data.substr(0, std::min<uint64_t>(data.size(), output_limit_ - start));
  if (output_.empty()) output_since_ = absl::Now();
  output_bytes_ += data.size();
  // Reads of one stream follow each other; merging them keeps the pieces
  // (and the coordinator's rows) few.
  if (!output_.empty()) {
    WorkOutput& last = output_.back();
    if (last.attempt_id == attempt_id && last.stream == stream &&
        last.offset + last.data.size() == start &&
        last.data.size() + data.size() <= output_options_.flush_bytes) {
      last.data.append(data.data(), data.size());
      return;
    }
  }
  output_.push_back({attempt_id, stream, start, std::string(data)});
}

void Worker::set_output_limit(uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  output_limit_ = bytes;
}

bool Worker::OutputDueLocked() const {
  return !output_.empty() &&
         (output_bytes_ >= output_options_.flush_bytes ||
          absl::Now() >= output_since_ + output_options_.flush_delay);
}

std::vector<WorkOutput> Worker::TakeOutput(std::vector<WorkResult>& results,
                                           size_t max_bytes) {
  absl::MutexLock lock(&mu_);
  std::vector<WorkOutput> out;
  size_t taken = 0;
  while (!output_.empty() && (out.empty() || taken < max_bytes)) {
    taken += output_.front().data.size();
    out.push_back(std::move(output_.front()));
    output_.pop_front();
  }
  output_bytes_ -= taken;
  if (output_.empty()) {
    output_since_ = absl::InfiniteFuture();
  } else if (!results.empty()) {
    absl::flat_hash_set<uint64_t> waiting;
    for (const WorkOutput& o : output_) waiting.insert(o.attempt_id);
    std::vector<WorkResult> later;
    std::erase_if(results, [&](WorkResult& r) {
      if (!waiting.contains(r.attempt_id)) return false;
      later.push_back(std::move(r));
      return true;
    });
    results_.insert(results_.begin(), std::make_move_iterator(later.begin()),
                    std::make_move_iterator(later.end()));
  }
  return out;
}

void Worker::ReturnOutput(std::vector<WorkOutput> output) {
  absl::MutexLock lock(&mu_);
  if (output.empty()) return;
  for (const WorkOutput& o : output) output_bytes_ += o.data.size();
  output_.insert(output_.begin(), std::make_move_iterator(output.begin()),
                 std::make_move_iterator(output.end()));
  output_since_ = std::min(output_since_, absl::Now());
}

void Worker::Cancel(const std::vector<uint64_t>& attempt_ids) {
  std::vector<uint64_t> to_kill;
  {
    absl::MutexLock lock(&mu_);
    // Output of a cancelled attempt would be refused by the coordinator.
    absl::flat_hash_set<uint64_t> ids(attempt_ids.begin(), attempt_ids.end());
    size_t dropped = 0;
    std::erase_if(output_, [&](const WorkOutput& o) {
      if (!ids.contains(o.attempt_id)) return false;
      dropped += o.data.size();
      return true;
    });
    output_bytes_ -= dropped;
    if (output_.empty()) output_since_ = absl::InfiniteFuture();
    for (uint64_t id : attempt_ids) {
      if (running_.contains(id)) {
        cancelled_.insert(id);
        to_kill.push_back(id);
      } else {
        std::erase_if(queue_, [id](const WorkAssignment& a) {
          return a.attempt_id == id;
        });
        std::erase_if(results_, [id](const WorkResult& r) {
          return r.attempt_id == id;
        });
      }
    }
  }
  for (uint64_t id : to_kill) runner_.Cancel(id);
}

std::vector<WorkResult> Worker::TakeResults(absl::Time deadline,
                                            absl::Duration batch_window) {
  absl::MutexLock lock(&mu_);
  // Output becomes due with time, which no Condition sees: wait until the
  // earlier of `deadline` and the flush time of the output waiting, and
  // start again when the first output arrives (the flush time moves).
  while (true) {
    const absl::Time since = output_since_;
    auto ready = [this, since]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !results_.empty() || wake_ ||
             output_bytes_ >= output_options_.flush_bytes ||
             output_since_ != since;
    };
    absl::Time until = deadline;
    if (since != absl::InfiniteFuture()) {
      until = std::min(until, since + output_options_.flush_delay);
    }
    mu_.AwaitWithDeadline(absl::Condition(&ready), until);
    if (!results_.empty() || wake_ || OutputDueLocked() ||
        absl::Now() >= deadline) {
      break;
    }
  }
  // Tasks waiting in the queue mean every slot is busy: a result sent a
  // moment later idles nothing here, and the results of that moment share
  // its message (one write here, one read and one commit on the
  // coordinator). Once the queue runs dry the slots may idle: send now.
  if (!wake_ && !results_.empty() && !queue_.empty() &&
      batch_window > absl::ZeroDuration()) {
    auto send_now = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return wake_ || queue_.empty();
    };
    mu_.AwaitWithDeadline(absl::Condition(&send_now),
                          std::min(deadline, absl::Now() + batch_window));
  }
  wake_ = false;
  std::vector<WorkResult> out(std::make_move_iterator(results_.begin()),
                              std::make_move_iterator(results_.end()));
  results_.clear();
  return out;
}

void Worker::ReturnResults(std::vector<WorkResult> results) {
  absl::MutexLock lock(&mu_);
  results_.insert(results_.begin(), std::make_move_iterator(results.begin()),
                  std::make_move_iterator(results.end()));
}

void Worker::WakeUp() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

std::vector<uint64_t> Worker::Held() const {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> ids;
  for (const WorkAssignment& a : queue_) ids.push_back(a.attempt_id);
  for (uint64_t id : running_) {
    if (!cancelled_.contains(id)) ids.push_back(id);
  }
  for (const WorkResult& r : results_) ids.push_back(r.attempt_id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<uint64_t> Worker::StopAll() {
  std::vector<uint64_t> ids;
  {
    absl::MutexLock lock(&mu_);
    for (const WorkAssignment& a : queue_) ids.push_back(a.attempt_id);
    queue_.clear();
    for (const WorkResult& r : results_) ids.push_back(r.attempt_id);
    results_.clear();
    for (uint64_t id : running_) {
      if (!cancelled_.contains(id)) ids.push_back(id);
    }
  }
  Cancel(ids);
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool Worker::idle() const {
  absl::MutexLock lock(&mu_);
  return queue_.empty() && running_.empty() && results_.empty();
}

int Worker::running() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(running_.size());
}

int Worker::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

}  // namespace vitte::task
