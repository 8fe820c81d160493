#include "worker/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
// glibc 2.36's <sys/pidfd.h> lacks __BEGIN_DECLS (fixed in 2.37), so C++
// would look for a mangled pidfd_open.
extern "C" {
#include <sys/pidfd.h>
}
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "worker/fork_exec.h"

extern char** environ;

namespace vitte::task {
namespace {

// Deadlines use the monotonic clock so that a wall-clock step (NTP, an admin
// fixing the date) neither fires nor postpones timeouts; absl::Now() is used
// only for the reported started_at / finished_at.
using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;
constexpr SteadyTime kNever = SteadyTime::max();

// Poll period for exits of runs that have no pidfd.
constexpr int kWaitidPollMs = 10;
// Size of one read() from an output pipe; the default pipe capacity.
constexpr size_t kReadChunk = 64 * 1024;
// Reads per stream when draining a finished run. Everything in the group has
// been sent SIGKILL by then, but a process that left the group (setsid) could
// keep writing into an inherited pipe and hold the supervisor forever.
constexpr int kMaxDrainReads = 64;

SteadyTime DeadlineAfter(SteadyTime now, absl::Duration d) {
  if (d <= absl::ZeroDuration()) return now;
  // Infinite durations, and any too long to add to a time_point, never expire.
  if (d >= absl::Hours(24 * 365 * 100)) return kNever;
  return now + std::chrono::duration_cast<SteadyClock::duration>(
                   absl::ToChronoNanoseconds(d));
}

// Milliseconds poll() should wait to wake up at `deadline`, rounded up so that
// it does not wake just before it and spin; -1 for kNever.
int PollTimeoutMs(SteadyTime now, SteadyTime deadline) {
  if (deadline == kNever) return -1;
  if (deadline <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
  return static_cast<int>(std::min<int64_t>(ms.count(), INT_MAX));
}

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    Reset(other.Release());
    return *this;
  }
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// The last `limit` bytes of a stream, plus how many came before them.
class TailBuffer {
 public:
  explicit TailBuffer(size_t limit) : limit_(limit) {}

  void Append(const char* data, size_t n) {
    if (n >= limit_) {
      dropped_ += buf_.size() + (n - limit_);
      buf_.assign(data + (n - limit_), limit_);
      return;
    }
    buf_.append(data, n);
    // Trim only once the buffer holds twice the limit, so each byte is moved
    // O(1) times on average instead of on every small append.
    if (buf_.size() >= 2 * limit_) Trim();
  }

  // Bytes appended so far.
  uint64_t total() const { return dropped_ + buf_.size(); }

  // The tail, after a "[... N bytes truncated ...]\n" line if N > 0 bytes
  // were dropped.
  std::string Finish() && {
    Trim();
    if (dropped_ == 0) return std::move(buf_);
    return absl::StrCat("[... ", dropped_, " bytes truncated ...]\n", buf_);
  }

 private:
  void Trim() {
    if (buf_.size() <= limit_) return;
    size_t excess = buf_.size() - limit_;
    buf_.erase(0, excess);
    dropped_ += excess;
  }

  const size_t limit_;
  std::string buf_;
  uint64_t dropped_ = 0;
};

bool HasNul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

// Checks what posix_spawn would otherwise silently truncate or misparse.
absl::Status Validate(const ProcessSpec& spec) {
  if (spec.argv.empty()) {
    return absl::InvalidArgumentError("cannot start a process: empty argv");
  }
  std::string prefix = absl::StrCat("cannot start \"", spec.argv[0], "\": ");
  for (const std::string& arg : spec.argv) {
    if (HasNul(arg)) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "argument contains a NUL byte"));
    }
  }
  for (const auto& [name, value] : spec.env) {
    if (name.empty() || name.find('=') != std::string::npos || HasNul(name) ||
        HasNul(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "invalid environment variable \"", name, "\""));
    }
  }
  if (HasNul(spec.cwd)) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "working directory contains a NUL byte"));
  }
  return absl::OkStatus();
}

// The runner's environment with `overrides` replacing or adding variables.
std::vector<std::string> BuildEnv(
    const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view var(*entry);
    std::string name(var.substr(0, var.find('=')));
    if (overrides.find(name) == overrides.end()) env.emplace_back(var);
  }
  for (const auto& [name, value] : overrides) {
    env.push_back(absl::StrCat(name, "=", value));
  }
  return env;
}

// Explains a failed spawn. posix_spawn reports a failed chdir and a failed
// exec with the same errno (ENOENT for both a missing directory and a missing
// program), so look at the directory to say which one it was.
absl::Status SpawnError(const ProcessSpec& spec, const std::string& cwd,
                        int err) {
  std::string prefix = absl::StrCat("cannot start \"", spec.argv[0], "\"");
  if (!cwd.empty()) {
    int dir_err = 0;
    struct stat st;
    if (stat(cwd.c_str(), &st) != 0) {
      dir_err = errno;
    } else if (!S_ISDIR(st.st_mode)) {
      dir_err = ENOTDIR;
    } else if (access(cwd.c_str(), X_OK) != 0) {
      dir_err = errno;
    }
    if (dir_err != 0) {
      return ErrnoStatus(dir_err, absl::StrCat(prefix, ": working directory \"",
                                               cwd, "\""));
    }
  }
  return ErrnoStatus(err, prefix);
}

// `dir` is `root` or under it; both canonical (absolute, no symlinks).
bool IsUnder(std::string_view dir, std::string_view root) {
  if (root == "/") return true;
  return dir == root || (dir.size() > root.size() && dir.starts_with(root) &&
                         dir[root.size()] == '/');
}

// The working directory to start `spec` in: with `roots`, its canonical path,
// or an error when that is under none of them.
absl::StatusOr<std::string> CheckCwd(const ProcessSpec& spec,
                                     const std::vector<std::string>& roots) {
  if (roots.empty()) return spec.cwd;
  std::string prefix = absl::StrCat("cannot start \"", spec.argv[0], "\"");
  const std::string shown = spec.cwd.empty() ? "." : spec.cwd;
  char* real = realpath(shown.c_str(), nullptr);
  if (real == nullptr) {
    return ErrnoStatus(errno, absl::StrCat(prefix, ": working directory \"",
                                           shown, "\""));
  }
  std::string resolved(real);
  free(real);
  for (const std::string& root : roots) {
    if (IsUnder(resolved, root)) return resolved;
  }
  return absl::PermissionDeniedError(absl::StrCat(
      prefix, ": working directory \"", shown, "\"",
      resolved == shown ? "" : absl::StrCat(" (resolved to \"", resolved, "\")"),
      " is not under an allowed directory (--allowed-cwd): ",
      absl::StrJoin(roots, ", ")));
}

struct Child {
  pid_t pid = -1;
  // Read ends of the stdout and stderr pipes, non-blocking.
  UniqueFd out;
  UniqueFd err;
};

// Spawns `spec` in a new process group; see the ProcessRunner class comment
// for the child's environment.
absl::StatusOr<Child> Spawn(const ProcessSpec& spec,
                            const ProcessRunnerOptions& options) {
  if (absl::Status status = Validate(spec); !status.ok()) return status;
  std::string prefix = absl::StrCat("cannot start \"", spec.argv[0], "\"");
  absl::StatusOr<std::string> cwd = CheckCwd(spec, options.allowed_cwds);
  if (!cwd.ok()) return cwd.status();
  std::optional<std::string> program;
  if (options.limits.any() || options.run_as.has_value()) {
    absl::StatusOr<std::string> found = FindProgram(spec.argv[0]);
    if (!found.ok()) return found.status();
    program = *std::move(found);
  }

  // O_CLOEXEC from creation (not set afterwards with fcntl) so that a process
  // spawned concurrently by another thread can never inherit these ends.
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return ErrnoStatus(errno, absl::StrCat(prefix, ": pipe"));
  }
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    return ErrnoStatus(errno, absl::StrCat(prefix, ": pipe"));
  }
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);

  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& arg : spec.argv) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<std::string> env;
  if (options.run_as.has_value()) {
    // The task is that user's: tools that find their configuration and
    // caches through $HOME or $USER must not look in the worker's. The
    // task's own env still wins.
    std::map<std::string, std::string> overrides = {
        {"HOME", options.run_as->home},
        {"USER", options.run_as->name},
        {"LOGNAME", options.run_as->name}};
    for (const auto& [name, value] : spec.env) overrides[name] = value;
    env = BuildEnv(overrides);
  } else {
    env = BuildEnv(spec.env);
  }
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (std::string& var : env) envp.push_back(var.data());
  envp.push_back(nullptr);

  // The run, once its process has exec'd.
  auto started = [&](pid_t pid) {
    // Only the child writes; keeping our copies would hide EOF.
    out_write.Reset();
    err_write.Reset();
    // Non-blocking, so that draining after exit stops at "nothing buffered"
    // instead of waiting for an EOF that a surviving writer could withhold.
    for (int fd : {out_read.get(), err_read.get()}) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    return Child{pid, std::move(out_read), std::move(err_read)};
  };

  // Limits and a user switch need code between fork and exec.
  if (program.has_value()) {
    ForkExecSpec fork_spec;
    fork_spec.name = spec.argv[0];
    fork_spec.program = *program;
    fork_spec.argv = argv.data();
    fork_spec.envp = envp.data();
    fork_spec.cwd = *cwd;
    fork_spec.stdout_fd = out_write.get();
    fork_spec.stderr_fd = err_write.get();
    fork_spec.limits = options.limits;
    if (options.run_as.has_value()) fork_spec.run_as = &*options.run_as;
    absl::StatusOr<pid_t> pid = ForkExec(fork_spec);
    if (!pid.ok()) return pid.status();
    return started(*pid);
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  int rc = posix_spawn_file_actions_init(&actions);
  if (rc != 0) return ErrnoStatus(rc, prefix);
  rc = posix_spawnattr_init(&attr);
  if (rc != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return ErrnoStatus(rc, prefix);
  }
  // Keeps the first error of the setup calls below (they fail only on
  // ENOMEM or a bad argument).
  auto check = [&rc](int result) {
    if (rc == 0) rc = result;
  };
  if (!cwd->empty()) {
    check(posix_spawn_file_actions_addchdir_np(&actions, cwd->c_str()));
  }
  check(posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                         O_RDONLY, 0));
  // dup2 clears close-on-exec on the new descriptor, so the child keeps
  // exactly 0-2.
  check(posix_spawn_file_actions_adddup2(&actions, out_write.get(),
                                         STDOUT_FILENO));
  check(posix_spawn_file_actions_adddup2(&actions, err_write.get(),
                                         STDERR_FILENO));
  // Descriptors other code in the worker opened without O_CLOEXEC (sockets,
  // databases) are none of the task's business.
  check(posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1));

  // A new group (pgid = child pid) lets timeouts and cleanup signal the task
  // and everything it forked at once. The worker's blocked and ignored signals
  // would otherwise be inherited across exec (e.g. an ignored SIGPIPE makes
  // `producer | head` run forever), so start from a clean slate.
  check(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                            POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF));
  check(posix_spawnattr_setpgroup(&attr, 0));
  sigset_t signals;
  sigemptyset(&signals);
  check(posix_spawnattr_setsigmask(&attr, &signals));
  sigfillset(&signals);
  check(posix_spawnattr_setsigdefault(&attr, &signals));

  pid_t pid = -1;
  if (rc == 0) {
    // glibc spawns with CLONE_VM | CLONE_VFORK and returns only once the
    // child has exec'd or failed; a failure of chdir or exec comes back here.
    rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    if (rc != 0) {
      posix_spawn_file_actions_destroy(&actions);
      posix_spawnattr_destroy(&attr);
      return SpawnError(spec, *cwd, rc);
    }
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return ErrnoStatus(rc, prefix);

  return started(pid);
}

// True once `pid` has exited. Leaves it a zombie (WNOWAIT) so that its pid,
// and thus its process group id, cannot be reused before the group is killed.
bool WaitidExited(pid_t pid) {
  siginfo_t info;
  info.si_pid = 0;
  int r;
  do {
    r = waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  // An error (ECHILD: someone else reaped it) also ends the run; Finish
  // reports it.
  return r < 0 || info.si_pid != 0;
}

}  // namespace

// Owns the running processes. Everything here is touched only by the
// supervisor thread, so it needs no lock; it talks to the rest of the runner
// through runner_.mu_-guarded state and the wake eventfd.
class ProcessRunner::Supervisor {
 public:
  explicit Supervisor(ProcessRunner& runner)
      : runner_(runner), options_(runner.options_), buf_(kReadChunk) {}

  // Runs until the runner shuts down and every run has been reported.
  void Loop();

 private:
  struct Proc {
    Proc(uint64_t id, size_t tail_bytes)
        : id(id), out_tail(tail_bytes), err_tail(tail_bytes) {}

    const uint64_t id;
    // Also the process group id.
    pid_t pid = -1;
    // Invalid when pidfds are unavailable; exits are then polled.
    UniqueFd pidfd;
    // Read ends; invalid once at EOF.
    UniqueFd out;
    UniqueFd err;
    TailBuffer out_tail;
    TailBuffer err_tail;
    // ProcessSpec::on_output; may be empty.
    std::function<void(OutputStream, absl::string_view)> on_output;
    // When to send SIGTERM (kNever without a timeout).
    SteadyTime deadline = kNever;
    // Set when SIGTERM has been sent (timeout or cancel); then kill_at is
    // when SIGKILL is due, kNever once it has been sent.
    bool stopping = false;
    SteadyTime kill_at = kNever;
    // Main process has exited (a zombie, not reaped yet).
    bool exited = false;
    bool timed_out = false;
    bool cancelled = false;
    // Wrote more than ProcessRunnerOptions::max_output_bytes; killed.
    bool output_exceeded = false;
    absl::Time started_at;
    DoneCallback done;
  };

  struct Finished {
    DoneCallback done;
    ProcessResult result;
  };

  void HandleStart(Request request);
  // Reports a run that never got a process.
  void Fail(Request request, std::string error, bool cancelled);
  // Sends SIGTERM to the run's group; SIGKILL follows after the grace period.
  void Stop(Proc& proc, bool timed_out, SteadyTime now);
  // Waits for output, exits, deadlines or a wake-up, and acts on them.
  void PollOnce();
  // One read() from the run's `stream` into its tail and on_output;
  // closes the pipe at EOF or on error. Returns whether bytes were read.
  bool ReadOnce(Proc& proc, OutputStream stream);
  // Kills what is left of the run's group, collects the buffered output,
  // reaps the main process and queues the result.
  void Finish(uint64_t id, bool shut_down);
  // Calls the queued `done` callbacks; no lock is held.
  void Deliver();
  // Which limit likely ended a finished run ("" if none), from how it ended
  // and the CPU time it used.
  std::string LimitHit(const Proc& proc, const ProcessResult& result,
                       const struct rusage& usage) const;

  ProcessRunner& runner_;
  const ProcessRunnerOptions& options_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Proc>> procs_;
  // Results waiting for Deliver().
  std::vector<Finished> finished_;
  std::vector<char> buf_;
};

void ProcessRunner::Supervisor::Loop() {
  for (;;) {
    std::vector<Request> requests;
    bool shutting_down;
    {
      absl::MutexLock lock(&runner_.mu_);
      requests.swap(runner_.inbox_);
      shutting_down = runner_.shutting_down_;
    }
    for (Request& request : requests) {
      if (request.kind == Request::Kind::kCancel) {
        auto it = procs_.find(request.run_id);
        if (it != procs_.end()) {
          Stop(*it->second, /*timed_out=*/false, SteadyClock::now());
        }
      } else if (shutting_down) {
        Fail(std::move(request), "runner shut down", /*cancelled=*/true);
      } else {
        HandleStart(std::move(request));
      }
    }

    if (shutting_down) {
      // SIGKILL every group first so that they all die in parallel, then
      // reap them one by one.
      for (const auto& [id, proc] : procs_) kill(-proc->pid, SIGKILL);
      std::vector<uint64_t> ids;
      for (const auto& [id, proc] : procs_) ids.push_back(id);
      for (uint64_t id : ids) Finish(id, /*shut_down=*/true);
      // Callbacks may Start again (those fail at once, next round); stop
      // when a round has nothing left to do.
      bool idle = requests.empty() && finished_.empty();
      Deliver();
      if (idle) return;
      continue;
    }

    // Spawn failures are reported before waiting.
    Deliver();
    PollOnce();
    Deliver();
  }
}

void ProcessRunner::Supervisor::HandleStart(Request request) {
  if (procs_.contains(request.run_id)) {
    std::string error =
        absl::StrCat("run ", request.run_id, " is already in progress");
    Fail(std::move(request), std::move(error), /*cancelled=*/false);
    return;
  }
  absl::Time started_at = absl::Now();
  const SteadyTime spawn_start = SteadyClock::now();
  absl::StatusOr<Child> child = Spawn(request.spec, options_);
  if (!child.ok()) {
    Fail(std::move(request), std::string(child.status().message()),
         /*cancelled=*/false);
    return;
  }
  if (options_.spawn_seconds != nullptr) {
    options_.spawn_seconds->Observe(
        std::chrono::duration<double>(SteadyClock::now() - spawn_start)
            .count());
  }
  auto proc =
      std::make_unique<Proc>(request.run_id, options_.output_tail_bytes);
  proc->pid = child->pid;
  proc->out = std::move(child->out);
  proc->err = std::move(child->err);
  if (options_.use_pidfd) {
    // Any failure (ENOSYS before Linux 5.3, EMFILE) leaves the run to the
    // waitid() poll. The child is not reaped yet, so ESRCH cannot happen.
    proc->pidfd.Reset(pidfd_open(proc->pid, 0));
  }
  proc->deadline = DeadlineAfter(SteadyClock::now(), request.spec.timeout);
  proc->started_at = started_at;
  proc->done = std::move(request.done);
  proc->on_output = std::move(request.spec.on_output);
  procs_[request.run_id] = std::move(proc);
}

void ProcessRunner::Supervisor::Fail(Request request, std::string error,
                                     bool cancelled) {
  ProcessResult result;
  result.started = false;
  result.cancelled = cancelled;
  result.error = std::move(error);
  result.started_at = result.finished_at = absl::Now();
  finished_.push_back({std::move(request.done), std::move(result)});
}

void ProcessRunner::Supervisor::Stop(Proc& proc, bool timed_out,
                                     SteadyTime now) {
  if (proc.stopping || proc.exited) return;
  proc.stopping = true;
  proc.timed_out = timed_out;
  proc.cancelled = !timed_out;
  // The main process is at worst a zombie here (it is reaped only in
  // Finish), so the group id still names this run's group.
  kill(-proc.pid, SIGTERM);
  // A stopped (SIGSTOP'd) process would hold SIGTERM pending until the
  // SIGKILL; let it handle TERM now.
  kill(-proc.pid, SIGCONT);
  proc.kill_at = DeadlineAfter(now, options_.kill_grace);
}

bool ProcessRunner::Supervisor::ReadOnce(Proc& proc, OutputStream stream) {
  const bool out = stream == OutputStream::kStdout;
  UniqueFd& fd = out ? proc.out : proc.err;
  if (!fd.valid()) return false;
  ssize_t n = read(fd.get(), buf_.data(), buf_.size());
  if (n > 0) {
    (out ? proc.out_tail : proc.err_tail)
        .Append(buf_.data(), static_cast<size_t>(n));
    if (proc.on_output) {
      proc.on_output(stream,
                     absl::string_view(buf_.data(), static_cast<size_t>(n)));
    }
    if (options_.max_output_bytes != 0 && !proc.output_exceeded &&
        proc.out_tail.total() + proc.err_tail.total() >
            options_.max_output_bytes) {
      proc.output_exceeded = true;
      kill(-proc.pid, SIGKILL);
    }
    return true;
  }
  if (n == 0 || (errno != EAGAIN && errno != EINTR)) fd.Reset();
  return false;
}

void ProcessRunner::Supervisor::PollOnce() {
  enum class Source { kWake, kOut, kErr, kExit };
  std::vector<pollfd> fds;
  std::vector<std::pair<Proc*, Source>> sources;
  fds.push_back({runner_.wake_fd_, POLLIN, 0});
  sources.push_back({nullptr, Source::kWake});
  SteadyTime next = kNever;
  bool poll_exits = false;
  for (const auto& [id, proc] : procs_) {
    if (proc->out.valid()) {
      fds.push_back({proc->out.get(), POLLIN, 0});
      sources.push_back({proc.get(), Source::kOut});
    }
    if (proc->err.valid()) {
      fds.push_back({proc->err.get(), POLLIN, 0});
      sources.push_back({proc.get(), Source::kErr});
    }
    if (proc->pidfd.valid()) {
      fds.push_back({proc->pidfd.get(), POLLIN, 0});
      sources.push_back({proc.get(), Source::kExit});
    } else {
      poll_exits = true;
    }
    next = std::min(next, proc->stopping ? proc->kill_at : proc->deadline);
  }
  int timeout_ms = PollTimeoutMs(SteadyClock::now(), next);
  if (poll_exits && (timeout_ms < 0 || timeout_ms > kWaitidPollMs)) {
    timeout_ms = kWaitidPollMs;
  }

  int ready = poll(fds.data(), fds.size(), timeout_ms);
  // On failure (ENOMEM; EINTR) nothing is known to be ready; exits are then
  // checked with waitid so that runs still end.
  bool poll_failed = ready < 0;
  for (size_t i = 0; !poll_failed && i < fds.size(); ++i) {
    if (fds[i].revents == 0) continue;
    auto [proc, source] = sources[i];
    switch (source) {
      case Source::kWake: {
        uint64_t count;
        // Resets the counter; the requests are picked up by the next Loop
        // round, which takes the inbox after this read.
        ssize_t n = read(runner_.wake_fd_, &count, sizeof(count));
        (void)n;
        break;
      }
      case Source::kOut:
        ReadOnce(*proc, OutputStream::kStdout);
        break;
      case Source::kErr:
        ReadOnce(*proc, OutputStream::kStderr);
        break;
      case Source::kExit:
        proc->exited = true;
        break;
    }
  }

  SteadyTime now = SteadyClock::now();
  std::vector<uint64_t> done_ids;
  for (const auto& [id, proc] : procs_) {
    if (!proc->exited && (!proc->pidfd.valid() || poll_failed)) {
      proc->exited = WaitidExited(proc->pid);
    }
    if (proc->exited) {
      done_ids.push_back(id);
    } else if (!proc->stopping && now >= proc->deadline) {
      Stop(*proc, /*timed_out=*/true, now);
    } else if (proc->stopping && now >= proc->kill_at) {
      kill(-proc->pid, SIGKILL);
      proc->kill_at = kNever;
    }
  }
  for (uint64_t id : done_ids) Finish(id, /*shut_down=*/false);
}

void ProcessRunner::Supervisor::Finish(uint64_t id, bool shut_down) {
  auto it = procs_.find(id);
  std::unique_ptr<Proc> proc = std::move(it->second);
  procs_.erase(it);

  // Whatever the task left behind in its group (a daemonised helper, a
  // `sleep &`) goes now. The main process is a zombie (or, on shutdown,
  // already SIGKILL'd) and not yet reaped, so -pid is still our group.
  kill(-proc->pid, SIGKILL);
  // Take what is already buffered, but do not wait for EOF: a killed
  // straggler closes its copy of the pipe only once it is gone, and one that
  // escaped the group never might.
  for (OutputStream stream : {OutputStream::kStdout, OutputStream::kStderr}) {
    for (int i = 0; i < kMaxDrainReads && ReadOnce(*proc, stream); ++i) {
    }
  }
  proc->out.Reset();
  proc->err.Reset();

  ProcessResult result;
  result.started = true;
  result.started_at = proc->started_at;
  int status = 0;
  pid_t reaped;
  struct rusage usage;
  memset(&usage, 0, sizeof(usage));
  // Does not block: the process has exited, or was just sent SIGKILL.
  do {
    reaped = wait4(proc->pid, &status, 0, &usage);
  } while (reaped < 0 && errno == EINTR);
  if (reaped < 0) {
    // ECHILD: reaped by someone else (SIGCHLD ignored, or waitpid(-1)).
    result.error = std::string(
        ErrnoStatus(errno, absl::StrCat("cannot collect the exit status of "
                                        "process ",
                                        proc->pid))
            .message());
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  result.timed_out = proc->timed_out;
  result.cancelled = proc->cancelled;
  if (shut_down) {
    result.cancelled = true;
    result.error = "runner shut down";
  } else if (result.error.empty()) {
    result.error = LimitHit(*proc, result, usage);
  }
  result.stdout_bytes = proc->out_tail.total();
  result.stderr_bytes = proc->err_tail.total();
  result.stdout_tail = std::move(proc->out_tail).Finish();
  result.stderr_tail = std::move(proc->err_tail).Finish();
  result.finished_at = absl::Now();
  finished_.push_back({std::move(proc->done), std::move(result)});
}

std::string ProcessRunner::Supervisor::LimitHit(
    const Proc& proc, const ProcessResult& result,
    const struct rusage& usage) const {
  if (proc.output_exceeded) {
    return absl::StrCat("output limit exceeded: the task wrote more than ",
                        options_.max_output_bytes,
                        " bytes to stdout and stderr, killed "
                        "(--max-task-output-bytes ",
                        options_.max_output_bytes, ")");
  }
  const uint64_t cpu_limit = options_.limits.cpu_seconds;
  if (cpu_limit != 0 && !proc.timed_out && !proc.cancelled) {
    const double cpu_used =
        static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
        (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    // SIGXCPU is the soft limit; SIGKILL after at least that much CPU, the
    // hard one.
    if (result.signal == SIGXCPU ||
        (result.signal == SIGKILL &&
         cpu_used >= static_cast<double>(cpu_limit) - 0.01)) {
      return absl::StrCat("CPU time limit exceeded (--task-cpu-seconds ",
                          cpu_limit, ")");
    }
  }
  return "";
}

void ProcessRunner::Supervisor::Deliver() {
  std::vector<Finished> batch;
  batch.swap(finished_);
  for (Finished& f : batch) {
    {
      absl::MutexLock lock(&runner_.mu_);
      --runner_.running_;
    }
    if (f.done) std::move(f.done)(std::move(f.result));
  }
}

absl::StatusOr<std::unique_ptr<ProcessRunner>> ProcessRunner::Create(
    ProcessRunnerOptions options) {
  for (std::string& root : options.allowed_cwds) {
    char* real = realpath(root.c_str(), nullptr);
    if (real == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("allowed working directory \"", root,
                       "\": ", ErrnoText(errno)));
    }
    std::string resolved(real);
    free(real);
    struct stat st;
    if (stat(resolved.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "allowed working directory \"", root, "\": not a directory"));
    }
    root = std::move(resolved);
  }
  int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) return ErrnoStatus(errno, "cannot create eventfd");
  // The constructor is private; make_unique cannot reach it.
  auto runner = absl::WrapUnique(new ProcessRunner(options, wake_fd));
  ProcessRunner* raw = runner.get();
  runner->thread_ = std::thread([raw] { Supervisor(*raw).Loop(); });
  return runner;
}

ProcessRunner::ProcessRunner(ProcessRunnerOptions options, int wake_fd)
    : options_(options), wake_fd_(wake_fd) {}

ProcessRunner::~ProcessRunner() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
  }
  Wake();
  thread_.join();
  close(wake_fd_);
}

void ProcessRunner::Start(uint64_t run_id, ProcessSpec spec,
                          DoneCallback done) {
  {
    absl::MutexLock lock(&mu_);
    inbox_.push_back(
        {Request::Kind::kStart, run_id, std::move(spec), std::move(done)});
    ++running_;
  }
  Wake();
}

void ProcessRunner::Cancel(uint64_t run_id) {
  {
    absl::MutexLock lock(&mu_);
    inbox_.push_back({Request::Kind::kCancel, run_id, {}, {}});
  }
  Wake();
}

int ProcessRunner::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

void ProcessRunner::Wake() {
  uint64_t one = 1;
  // Can only fail with EAGAIN when the counter is about to overflow, i.e.
  // when a wake-up is pending anyway.
  ssize_t n = write(wake_fd_, &one, sizeof(one));
  (void)n;
}

}  // namespace vitte::task
