// Keeps a worker connected to its coordinator: opens the session stream,
// registers (listing the attempts it still holds, so that they survive a
// broken stream or a coordinator restart), feeds assignments and cancels to
// the Worker, sends its results (batched: everything finished since the last
// write goes in one message) and heartbeats, and reconnects with capped
// exponential backoff and full jitter when the stream breaks.
#ifndef VITTE_WORKER_SESSION_H_
#define VITTE_WORKER_SESSION_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "worker/worker.h"

namespace grpc {
class Channel;
}

namespace vitte::task {

struct SessionOptions {
  std::string name;
  std::map<std::string, std::string> labels;
  // Register.serve_labels: the worker takes only tasks requiring all of
  // these. Each should also be in `labels` (the coordinator adds them, an
  // older one does not).
  std::map<std::string, std::string> serve_labels;
  // Assignments wanted beyond the worker's slots (Register.prefetch).
  int32_t prefetch = 0;
  // While every slot is busy and tasks wait in the worker's queue, results
  // wait this long for others to share their message (Worker::TakeResults).
  absl::Duration result_batch_window = absl::Milliseconds(2);
  // Heartbeat used until the coordinator names its own.
  absl::Duration heartbeat_interval = absl::Seconds(2);
  // Reconnection backoff. After a session that was up breaks, the first
  // try comes within initial_backoff, so that a worker whose stream broke
  // is usually back within the coordinator's reconnect grace (0.5 s by
  // default) and keeps its attempts; the cap stays well under the lease
  // (10 s), which is what workers have after a coordinator restart.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(1);
  // After the coordinator refused the worker's token or name
  // (UNAUTHENTICATED, PERMISSION_DENIED): that takes an operator to mend,
  // so the worker tries again this much later rather than every second.
  absl::Duration refused_backoff = absl::Seconds(30);
  // How the channel was made, so that a TLS failure is explained in the log.
  ClientTlsOptions tls;
  // Optional (must outlive the session): where the session exports its
  // connection state and counts its sessions and reconnections.
  MetricsRegistry* metrics = nullptr;
};

// Thread-safe: Run on one thread, the others from any.
class WorkerSession {
 public:
  // `channel` and `worker` must outlive the session.
  WorkerSession(std::shared_ptr<grpc::Channel> channel, Worker& worker,
                SessionOptions options);
  ~WorkerSession();

  // Connects and serves until Stop() or the end of a Drain(); reconnects
  // after every failure.
  void Run();
  // Makes Run return soon; the current stream is closed. Attempts still
  // running are left to the Worker (and to the coordinator's lease).
  void Stop();
  // Graceful stop: tells the coordinator to send nothing new, lets running
  // attempts finish and report, and after `deadline` stops the rest and
  // hands them back; then says goodbye (their tasks are re-queued at once)
  // and makes Run return.
  void Drain(absl::Duration deadline);

  // True while a session is registered with the coordinator.
  bool connected() const;

 private:
  struct Stream;
  // How a session ended.
  struct SessionEnd {
    bool registered = false;  // the coordinator accepted the registration
    absl::StatusCode code = absl::StatusCode::kOk;  // the call's status
  };
  // Runs one session; returns when it ends, or at Stop() or after goodbye.
  SessionEnd RunOnce();

  // Marks the session registered or not (connected_ and its gauge).
  void SetConnected(bool connected) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<grpc::Channel> channel_;
  Worker& worker_;
  const SessionOptions options_;
  // From options_.metrics; null without one.
  Gauge* connected_gauge_ = nullptr;
  Counter* sessions_counter_ = nullptr;
  Counter* reconnects_counter_ = nullptr;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  // Drain state: requested, told to the current session, deadline.
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // The stream in use, so that Stop() can cancel it.
  Stream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace vitte::task

#endif  // VITTE_WORKER_SESSION_H_
