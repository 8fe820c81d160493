// The real CommandRunner: runs task commands as child processes, each in its
// own process group, supervised by one thread per runner.
#ifndef VITTE_WORKER_PROCESS_RUNNER_H_
#define VITTE_WORKER_PROCESS_RUNNER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "worker/command_runner.h"
#include "worker/fork_exec.h"

namespace vitte::task {

struct ProcessRunnerOptions {
  // Bytes kept from the end of each of stdout and stderr. When a stream wrote
  // more, its tail starts with "[... N bytes truncated ...]\n", N being the
  // number of bytes dropped from the front.
  size_t output_tail_bytes = 64 * 1024;
  // Time between SIGTERM and SIGKILL when a run times out or is cancelled.
  absl::Duration kill_grace = absl::Seconds(5);
  // When false, process exit is detected by polling waitid() every few
  // milliseconds instead of through a pidfd. The runner falls back to this on
  // its own when pidfd_open() is unavailable (Linux < 5.3); tests set it to
  // exercise that path.
  bool use_pidfd = true;
  // Optional (not owned; must outlive the runner): observes how long each
  // spawn took, from posix_spawnp's call to the child running the command
  // (glibc returns once the child has exec'd), in seconds. Spawns that fail
  // are not observed.
  Histogram* spawn_seconds = nullptr;
  // Applied to each task's process. With any set, tasks are started with
  // fork() + execve() instead of posix_spawnp() (same child set-up, plus the
  // limits).
  TaskLimits limits = {};
  // Past this many bytes written to stdout and stderr together, the run's
  // process group gets SIGKILL and its error says so. 0 = no limit (memory
  // stays bounded anyway: only output_tail_bytes per stream are kept).
  uint64_t max_output_bytes = 0;
  // When not empty, a run whose working directory (spec.cwd, or the runner's
  // own when empty), made absolute with symlinks and ".." resolved, is not
  // one of these directories or under one, is refused before anything is
  // started (started = false, error naming the directory and the roots).
  // The process is then started in the resolved directory, so a symlink
  // changed after the check cannot take it elsewhere. Create() fails when a
  // root cannot be resolved.
  std::vector<std::string> allowed_cwds = {};
  // When set, each task's process switches to this user (setgroups, setgid,
  // setuid) before exec; the runner must run as root. Like limits, selects
  // fork() + execve().
  std::optional<RunAsUser> run_as = std::nullopt;
};

// Runs each ProcessSpec with posix_spawnp() (or, with limits or run_as,
// fork() + execve(): see fork_exec.h) in a new process group: stdin is
// /dev/null, stdout and stderr go to pipes whose tails are kept (and whose
// every read goes to ProcessSpec::on_output, if set), the signal
// mask is empty and every signal has its default disposition, and no file
// descriptor beyond 0-2 is inherited. argv[0] is looked up in the runner's
// PATH (not in spec.env's). A run ends when its main process has exited: any
// process still in its group is then sent SIGKILL (so a task leaves no
// background survivor; a killed straggler may briefly linger as a zombie until
// its new parent reaps it), the pipes are drained of what is already buffered
// without waiting for EOF, the main process is reaped and `done` runs.
//
// One supervisor thread per runner multiplexes all pipes, exit notifications
// (pidfds), deadlines and requests with poll(); `done` callbacks run on it and
// should return quickly, since no run makes progress meanwhile. They may call
// Start and Cancel, but must not destroy the runner.
//
// The process using the runner must not set SIGCHLD to SIG_IGN nor reap
// arbitrary children (waitpid(-1, ...)): either would take the runner's
// children from it, and their runs would then report an error.
//
// Thread-safe.
class ProcessRunner final : public CommandRunner {
 public:
  // Starts the supervisor thread. Fails with RESOURCE_EXHAUSTED when its
  // wake-up eventfd cannot be created (out of file descriptors or memory),
  // and with INVALID_ARGUMENT when an allowed_cwds root cannot be resolved.
  static absl::StatusOr<std::unique_ptr<ProcessRunner>> Create(
      ProcessRunnerOptions options = {});

  // Sends SIGKILL to every process group still running, reaps the main
  // processes, calls their `done` with cancelled = true and error "runner shut
  // down" (Starts made by those callbacks fail the same way without spawning),
  // then joins the supervisor thread. Must not be called from a `done`
  // callback.
  ~ProcessRunner() override;

  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;

  // See CommandRunner. Spawn failures (program not found, missing working
  // directory, empty argv, a `run_id` already in progress, out of fds) come
  // back through `done` with started = false and `error` naming the program,
  // e.g. `cannot start "nosuchprog": No such file or directory`.
  void Start(uint64_t run_id, ProcessSpec spec, DoneCallback done) override;

  // See CommandRunner. A run already being stopped (timed out or cancelled)
  // keeps its first reason and grace deadline.
  void Cancel(uint64_t run_id) override;

  // Runs started whose `done` has not been called yet.
  int running() const override;

 private:
  // A Start or Cancel call, queued for the supervisor thread. One queue keeps
  // their order, so Start(7) followed by Cancel(7) cancels that run.
  struct Request {
    enum class Kind { kStart, kCancel };
    Kind kind;
    uint64_t run_id;
    ProcessSpec spec;   // kStart only.
    DoneCallback done;  // kStart only.
  };

  // Owns the running processes; lives on, and is only touched by, the
  // supervisor thread. Defined in process_runner.cc.
  class Supervisor;

  ProcessRunner(ProcessRunnerOptions options, int wake_fd);

  // Wakes the supervisor thread out of poll().
  void Wake();

  const ProcessRunnerOptions options_;
  // eventfd the supervisor polls; written by Wake(). Owned, closed by the
  // destructor after the thread has been joined.
  const int wake_fd_;

  mutable absl::Mutex mu_;
  // Requests not yet taken by the supervisor thread, oldest first.
  std::vector<Request> inbox_ ABSL_GUARDED_BY(mu_);
  // Set by the destructor; the supervisor then stops every run and exits.
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // Incremented by Start, decremented just before each `done` call.
  int running_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread thread_;
};

}  // namespace vitte::task

#endif  // VITTE_WORKER_PROCESS_RUNNER_H_
