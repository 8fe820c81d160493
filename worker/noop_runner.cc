#include "worker/noop_runner.h"

#include <vector>

#include "absl/time/clock.h"
#include "worker/process_runner.h"

namespace vitte::task {

NoopRunner::NoopRunner() : thread_([this] { Loop(); }) {}

NoopRunner::~NoopRunner() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();  // after completing every run started
}

void NoopRunner::Start(uint64_t run_id, ProcessSpec /*spec*/,
                       DoneCallback done) {
  absl::MutexLock lock(&mu_);
  queue_.emplace_back(run_id, std::move(done));
  ++running_;
}

int NoopRunner::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

void NoopRunner::Loop() {
  while (true) {
    std::deque<std::pair<uint64_t, DoneCallback>> batch;
    {
      absl::MutexLock lock(&mu_);
      auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_;
      };
      mu_.Await(absl::Condition(&work));
      if (queue_.empty()) return;
      batch.swap(queue_);
    }
    for (auto& [run_id, done] : batch) {
      {
        absl::MutexLock lock(&mu_);
        --running_;
      }
      ProcessResult result;
      result.started = true;
      result.exit_code = 0;
      result.started_at = result.finished_at = absl::Now();
      std::move(done)(std::move(result));
    }
  }
}

absl::StatusOr<std::unique_ptr<CommandRunner>> MakeCommandRunner(
    bool noop, MetricsRegistry* metrics, ProcessRunnerOptions options) {
  if (noop) return std::make_unique<NoopRunner>();
  if (metrics != nullptr) {
    options.spawn_seconds = &metrics->AddHistogram(
        "vitte_worker_spawn_seconds",
        "Time to start a task's process: from posix_spawn to the command "
        "running (exec done).",
        LatencyBuckets());
  }
  absl::StatusOr<std::unique_ptr<ProcessRunner>> runner =
      ProcessRunner::Create(options);
  if (!runner.ok()) return runner.status();
  return std::unique_ptr<CommandRunner>(std::move(*runner));
}

}  // namespace vitte::task
