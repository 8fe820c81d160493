// Keeps a worker connected to its coordinator: opens the session stream,
// registers, feeds assignments and cancels to the Worker, sends its results
// (batched: everything finished since the last write goes in one message)
// and heartbeats, and reconnects with capped exponential backoff and jitter
// when the stream breaks.
#ifndef VITTE_WORKER_SESSION_H_
#define VITTE_WORKER_SESSION_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/worker.h"

namespace grpc {
class Channel;
}

namespace vitte::task {

struct SessionOptions {
  std::string name;
  std::map<std::string, std::string> labels;
  // Heartbeat used until the coordinator names its own.
  absl::Duration heartbeat_interval = absl::Seconds(2);
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
};

// Thread-safe: Run on one thread, Stop and the accessors from any.
class WorkerSession {
 public:
  // `channel` and `worker` must outlive the session.
  WorkerSession(std::shared_ptr<grpc::Channel> channel, Worker& worker,
                SessionOptions options);
  ~WorkerSession();

  // Connects and serves until Stop(); reconnects after every failure.
  void Run();
  // Makes Run return soon; the current stream is closed cleanly.
  void Stop();

  // True while a session is registered with the coordinator.
  bool connected() const;

 private:
  struct Stream;
  // Runs one session; returns when it ends or Stop() is called. True when
  // the coordinator accepted the registration.
  bool RunOnce();

  std::shared_ptr<grpc::Channel> channel_;
  Worker& worker_;
  const SessionOptions options_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  // The stream in use, so that Stop() can cancel it.
  Stream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace vitte::task

#endif  // VITTE_WORKER_SESSION_H_
