// The worker's domain core: runs assigned attempts through a CommandRunner,
// at most `slots` at once, and collects their results for the session to
// send. Knows nothing of gRPC; WorkerSession (session.h) feeds it.
#ifndef VITTE_WORKER_WORKER_H_
#define VITTE_WORKER_WORKER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/labels.h"
#include "common/metrics.h"
#include "worker/command_runner.h"

namespace vitte::task {

struct WorkAssignment {
  uint64_t attempt_id = 0;
  std::string graph_id;
  std::string task_id;
  ProcessSpec process;
  // The task's labels, checked against the worker's serve-labels.
  Labels labels;
};

struct WorkResult {
  uint64_t attempt_id = 0;
  ProcessResult result;
};

// Output of a running attempt, to send to the coordinator: `data` starts at
// byte `offset` of the stream.
struct WorkOutput {
  uint64_t attempt_id = 0;
  OutputStream stream = OutputStream::kStdout;
  uint64_t offset = 0;
  std::string data;
};

struct WorkerOutputOptions {
  // Output waiting to be sent is due once it holds this many bytes, or
  // this long after its first byte, whichever comes first: a task's output
  // reaches the coordinator while it runs, in few messages.
  size_t flush_bytes = 64 * 1024;
  absl::Duration flush_delay = absl::Milliseconds(100);
};

// Thread-safe.
class Worker {
 public:
  // `runner` must outlive the worker. slots > 0. With `metrics` (optional,
  // must outlive the worker) it exports its slots and counts the attempts
  // it runs (see README, "Metrics"). With `serve_labels` (--serve-label) it
  // refuses the attempts of tasks whose labels lack one of them (Assign).
  Worker(CommandRunner& runner, int slots, WorkerOutputOptions output = {},
         MetricsRegistry* metrics = nullptr, Labels serve_labels = {});
  // Cancels what still runs and waits for the runner to report it.
  ~Worker();

  // Starts the attempts, or queues those beyond the free slots. An attempt
  // id already held is ignored (the coordinator may resend after a
  // reconnect). An attempt whose labels lack a serve-label is not run: it
  // gets a failed result at once (not started, `error` says why), which
  // guards against a coordinator that ignores serve-labels.
  void Assign(std::vector<WorkAssignment> assignments);
  // Stops the attempts (queued or running); no result is reported for them.
  void Cancel(const std::vector<uint64_t>& attempt_ids);

  // Waits until a result is ready, output is due (WorkerOutputOptions),
  // WakeUp() is called, or `deadline`; returns every ready result
  // (possibly none), oldest first; the caller then takes the output
  // (TakeOutput), which holds all output of these results' attempts. While
  // attempts wait in the queue (every slot busy), waits up to
  // `batch_window` more for further results to send along.
  std::vector<WorkResult> TakeResults(
      absl::Time deadline, absl::Duration batch_window = absl::ZeroDuration());
  // Puts back results that could not be sent, ahead of newer ones.
  void ReturnResults(std::vector<WorkResult> results);
  // Makes a pending TakeResults return now.
  void WakeUp();

  // Per attempt and stream, output before this offset is kept to be sent
  // (the coordinator's limit, Registered.max_log_bytes); 0 (the default)
  // keeps none. Offsets count every byte all the same.
  void set_output_limit(uint64_t bytes);
  // Output waiting to be sent, oldest first, up to about `max_bytes`
  // (contiguous output of one stream comes merged in few pieces). An
  // attempt's output must reach the coordinator before its result, which
  // ends the attempt: results (from TakeResults) whose attempts still have
  // output waiting are taken out of `results` and put back, to go with
  // a later call.
  std::vector<WorkOutput> TakeOutput(std::vector<WorkResult>& results,
                                     size_t max_bytes = 1 << 20);
  // Puts back output that could not be sent, ahead of newer output.
  void ReturnOutput(std::vector<WorkOutput> output);

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
  // The failed result of an attempt refused for its labels (Assign).
  ProcessResult Refusal(const WorkAssignment& a) const;
  void OnDone(uint64_t attempt_id, ProcessResult result);
  // The runner read output of a running attempt.
  void OnOutput(uint64_t attempt_id, OutputStream stream,
                absl::string_view data);
  bool OutputDueLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

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
  const Labels serve_labels_;
  const WorkerOutputOptions output_options_;
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
  // Output: bytes each running attempt wrote so far per stream (index
  // stream - 1), what waits to be sent, its size, and when its first byte
  // came (InfiniteFuture while nothing waits).
  uint64_t output_limit_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::array<uint64_t, 2>> written_
      ABSL_GUARDED_BY(mu_);
  std::deque<WorkOutput> output_ ABSL_GUARDED_BY(mu_);
  size_t output_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time output_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

}  // namespace vitte::task

#endif  // VITTE_WORKER_WORKER_H_
