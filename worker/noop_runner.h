// A CommandRunner that runs nothing: every run succeeds at once. It exists
// for benchmarks (vitte-worker --noop), to measure the cost of
// orchestration alone: dispatch, the worker link, commits, readiness.
#ifndef VITTE_WORKER_NOOP_RUNNER_H_
#define VITTE_WORKER_NOOP_RUNNER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "worker/command_runner.h"
#include "worker/process_runner.h"

namespace vitte::task {

// Thread-safe. Completions run on a thread of the runner, in start order,
// as the CommandRunner contract asks.
class NoopRunner : public CommandRunner {
 public:
  NoopRunner();
  ~NoopRunner() override;

  void Start(uint64_t run_id, ProcessSpec spec, DoneCallback done) override;
  // Runs complete at once; there is nothing to stop.
  void Cancel(uint64_t /*run_id*/) override {}
  int running() const override;

 private:
  void Loop();

  mutable absl::Mutex mu_;
  std::deque<std::pair<uint64_t, DoneCallback>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// The runner of vitte-worker and of `vitte-task run`: a ProcessRunner, or
// with `noop` (benchmarks) a NoopRunner. With `metrics` (optional, must
// outlive the runner) a ProcessRunner records its spawn latency
// (vitte_worker_spawn_seconds). `options` (limits, allowed working
// directories, user) go to the ProcessRunner; its spawn_seconds is set here.
absl::StatusOr<std::unique_ptr<CommandRunner>> MakeCommandRunner(
    bool noop, MetricsRegistry* metrics = nullptr,
    ProcessRunnerOptions options = {});

}  // namespace vitte::task

#endif  // VITTE_WORKER_NOOP_RUNNER_H_
