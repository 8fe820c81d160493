// A CommandRunner decorator that notes when each run starts and ends, and
// writes them to a file when destroyed: one line per run, "run_id
// start_us end_us" (microseconds of the system clock). For benchmarks
// (vitte-worker --trace-file): the latency from one task's end to its
// dependent's start is read from these lines.
#ifndef VITTE_WORKER_TRACING_RUNNER_H_
#define VITTE_WORKER_TRACING_RUNNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "worker/command_runner.h"

namespace vitte::task {

// Thread-safe.
class TracingRunner : public CommandRunner {
 public:
  // `inner` must outlive this runner, which must be destroyed after every
  // run it started has reported.
  TracingRunner(CommandRunner& inner, std::string path);
  // Writes the file (errors are logged).
  ~TracingRunner() override;

  void Start(uint64_t run_id, ProcessSpec spec, DoneCallback done) override;
  void Cancel(uint64_t run_id) override { inner_.Cancel(run_id); }
  int running() const override { return inner_.running(); }

 private:
  struct Span {
    uint64_t run_id;
    int64_t start_us;
    int64_t end_us;
  };

  CommandRunner& inner_;
  const std::string path_;
  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, int64_t> started_ ABSL_GUARDED_BY(mu_);
  std::vector<Span> spans_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vitte::task

#endif  // VITTE_WORKER_TRACING_RUNNER_H_
