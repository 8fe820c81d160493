// The worker's domain core: runs assigned attempts through a CommandRunner,
// at most `slots` at once, and collects their results for the session to
// send. Knows nothing of gRPC; WorkerSession (session.h) feeds it.
#ifndef VITTE_WORKER_WORKER_H_
#define VITTE_WORKER_WORKER_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "worker/command_runner.h"

namespace vitte::task {

struct WorkAssignment {
  uint64_t attempt_id = 0;
  std::string graph_id;
  std::string task_id;
  ProcessSpec process;
};

struct WorkResult {
  uint64_t attempt_id = 0;
  ProcessResult result;
};

// Thread-safe.
class Worker {
 public:
  // `runner` must outlive the worker. slots > 0. With `metrics` (optional,
  // must outlive the worker) it exports its slots and counts the attempts
  // it runs (see README, "Metrics").
  Worker(CommandRunner& runner, int slots, MetricsRegistry* metrics = nullptr);
  // Cancels what still runs and waits for the runner to report it.
  ~Worker();

  // Starts the attempts, or queues those beyond the free slots. An attempt
  // id already held is ignored (the coordinator may resend after a
  // reconnect).
  void Assign(std::vector<WorkAssignment> assignments);
  // Stops the attempts (queued or running); no result is reported for them.
  void Cancel(const std::vector<uint64_t>& attempt_ids);

  // Waits until a result is ready, WakeUp() is called, or `deadline`;
  // returns every ready result (possibly none), oldest first. While
  // attempts wait in the queue (every slot busy), waits up to
  // `batch_window` more for further results to send along.
  std::vector<WorkResult> TakeResults(
      absl::Time deadline, absl::Duration batch_window = absl::ZeroDuration());
  // Puts back results that could not be sent, ahead of newer ones.
  void ReturnResults(std::vector<WorkResult> results);
  // Makes a pending TakeResults return now.
  void WakeUp();

  // Attempts held: queued, running, or finished with a result not yet
  // taken. Sorted.
  std::vector<uint64_t> Held() const;
  // Stops every queued and running attempt without reporting them, and
  // drops results not yet taken; returns their ids, sorted (a draining
  // worker hands them back).
  std::vector<uint64_t> StopAll();
  // Nothing queued, running, or waiting to be taken.
  bool idle() const;

  int slots() const { return slots_; }
  int running() const;
  int queued() const;

 private:
  // Moves queued attempts into free slots; the caller starts them with
  // StartAll once mu_ is released.
  std::vector<WorkAssignment> FillSlotsLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartAll(std::vector<WorkAssignment> starts) ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone(uint64_t attempt_id, ProcessResult result);

  // Series of the worker's metrics, looked up once; all null without a
  // registry.
  struct Metrics {
    Counter* started = nullptr;
    // By outcome: succeeded, failed, timed_out, cancelled, not_started.
    Counter* succeeded = nullptr;
    Counter* failed = nullptr;
    Counter* timed_out = nullptr;
    Counter* cancelled = nullptr;
    Counter* not_started = nullptr;
    Gauge* slots = nullptr;
    Gauge* busy = nullptr;
    Gauge* queued = nullptr;
  };
  // The counter of `result`'s outcome.
  Counter* OutcomeCounter(const ProcessResult& result) const;

  CommandRunner& runner_;
  const int slots_;
  MetricsRegistry* const metrics_registry_;
  Metrics metrics_;
  uint64_t metrics_scrape_hook_ = 0;

  mutable absl::Mutex mu_;
  std::deque<WorkAssignment> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> running_ ABSL_GUARDED_BY(mu_);
  // Attempts cancelled while running: their result is dropped.
  absl::flat_hash_set<uint64_t> cancelled_ ABSL_GUARDED_BY(mu_);
  std::deque<WorkResult> results_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace vitte::task

#endif  // VITTE_WORKER_WORKER_H_
