// Runs task commands as child processes. The worker talks to this interface
// so that its tests can use a fake runner that never spawns.
#ifndef VITTE_WORKER_COMMAND_RUNNER_H_
#define VITTE_WORKER_COMMAND_RUNNER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/output_stream.h"

namespace vitte::task {

struct ProcessSpec {
  // argv, run exactly as given; argv[0] is looked up in PATH.
  std::vector<std::string> argv;
  // Added to (and overriding) the runner's own environment.
  std::map<std::string, std::string> env;
  // Working directory; empty = the runner's.
  std::string cwd;
  // Wall-clock limit; past it the process group gets SIGTERM, then SIGKILL
  // after the runner's kill grace period.
  absl::Duration timeout = absl::InfiniteDuration();
  // Optional. Gets every byte the process writes, in order per stream, as
  // it is read and before `done`; called on a thread owned by the runner,
  // so it must return quickly and must not call the runner.
  std::function<void(OutputStream, absl::string_view)> on_output;
};

struct ProcessResult {
  // False when the process could not be started; `error` says why.
  bool started = false;
  // Exit status if the process exited, else -1.
  int exit_code = -1;
  // Signal that ended the process, 0 if none.
  int signal = 0;
  bool timed_out = false;
  bool cancelled = false;
  // Why the run failed, when the runner knows more than the status: it could
  // not start, the runner shut down, or it broke a limit of the runner's
  // (e.g. "CPU time limit exceeded (--task-cpu-seconds 1)"). Empty otherwise.
  std::string error;
  // Last bytes written to stdout / stderr (bounded by the runner).
  std::string stdout_tail;
  std::string stderr_tail;
  // Bytes written to stdout / stderr in all.
  uint64_t stdout_bytes = 0;
  uint64_t stderr_bytes = 0;
  absl::Time started_at;
  absl::Time finished_at;

  bool success() const {
    return started && exit_code == 0 && signal == 0 && !timed_out &&
           !cancelled;
  }
};

// Thread-safe.
class CommandRunner {
 public:
  using DoneCallback = absl::AnyInvocable<void(ProcessResult) &&>;

  virtual ~CommandRunner() = default;

  // Starts `spec` under the caller-chosen `run_id` (unique among runs in
  // progress) and returns at once. `done` is called exactly once, on a
  // thread owned by the runner, after the process and every other process
  // of its group have ended and its output is collected; a spawn failure
  // also reports through `done`. `done` may call Start and Cancel.
  virtual void Start(uint64_t run_id, ProcessSpec spec, DoneCallback done) = 0;

  // Stops run `run_id`: SIGTERM to its process group, SIGKILL after the
  // grace period. Its `done` still runs, with cancelled = true. Unknown or
  // finished ids are ignored.
  virtual void Cancel(uint64_t run_id) = 0;

  // Runs in progress.
  virtual int running() const = 0;
};

}  // namespace vitte::task

#endif  // VITTE_WORKER_COMMAND_RUNNER_H_
