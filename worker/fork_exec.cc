#include "worker/fork_exec.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace vitte::task {

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r: returns the message, which may or may not be in `buf`.
  return strerror_r(err, buf, sizeof(buf));
}

absl::Status ErrnoStatus(int err, absl::string_view context) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(context, ": ", ErrnoText(err)));
}

namespace {

// Closes its descriptor on destruction.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() { Reset(); }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// What a forked child reports through its close-on-exec pipe when a step
// before exec (or exec itself) fails; nothing is written when exec succeeds.
struct ChildFailure {
  enum Step : int {
    kPgid = 1,
    kStdio,
    kLimit,
    kSetgroups,
    kSetgid,
    kSetuid,
    kChdir,
    kExec
  };
  int step = 0;
  int err = 0;
  // kLimit: index into ChildPlan::limits.
  int index = 0;
};

struct ChildLimit {
  int resource;
  const char* name;
  rlimit value;
};

// Everything the forked child needs, prepared by the parent so that the child
// allocates nothing and calls only async-signal-safe functions.
struct ChildPlan {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* cwd = nullptr;  // Null: stay.
  int out_fd = -1;
  int err_fd = -1;
  int report_fd = -1;
  // Highest descriptor to close when close_range() is unavailable.
  int max_fd = 1024;
  ChildLimit limits[4];
  int num_limits = 0;
  // Switch to this user before exec (ProcessRunnerOptions::run_as).
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  size_t num_groups = 0;
};

// The limits of `limits` to set, never above the current hard limits.
void PlanLimits(const TaskLimits& limits, ChildPlan& plan) {
  auto add = [&plan](int resource, const char* name, uint64_t soft,
                     uint64_t hard) {
    if (soft == 0) return;
    rlimit current;
    if (getrlimit(resource, &current) != 0) {
      current.rlim_cur = current.rlim_max = RLIM_INFINITY;
    }
    rlimit value;
    value.rlim_cur = std::min<rlim_t>(soft, current.rlim_max);
    value.rlim_max = std::min<rlim_t>(hard, current.rlim_max);
    plan.limits[plan.num_limits++] = {resource, name, value};
  };
  // The soft CPU limit sends SIGXCPU (which ends the task unless handled);
  // the hard one, a second later, SIGKILL.
  add(RLIMIT_CPU, "RLIMIT_CPU", limits.cpu_seconds, limits.cpu_seconds + 1);
  add(RLIMIT_AS, "RLIMIT_AS", limits.memory_bytes, limits.memory_bytes);
  add(RLIMIT_NOFILE, "RLIMIT_NOFILE", limits.open_files, limits.open_files);
  add(RLIMIT_NPROC, "RLIMIT_NPROC", limits.processes, limits.processes);
}

// Closes every descriptor from `from` to `to` (inclusive).
void CloseRange(int from, int to, int max_fd) {
  if (from > to) return;
  if (close_range(static_cast<unsigned>(from), static_cast<unsigned>(to), 0) ==
      0) {
    return;
  }
  for (int fd = from; fd <= std::min(to, max_fd); ++fd) close(fd);
}

// The child side of ForkExec: between fork and exec, so async-signal-safe
// calls only. Does what Spawn asks of posix_spawnp, then sets the limits.
[[noreturn]] void RunChild(const ChildPlan& plan) {
  auto fail = [&plan](ChildFailure::Step step, int index = 0) {
    ChildFailure failure;
    failure.step = step;
    failure.err = errno;
    failure.index = index;
    ssize_t n = write(plan.report_fd, &failure, sizeof(failure));
    (void)n;
    _exit(127);
  };
  if (setpgid(0, 0) != 0) fail(ChildFailure::kPgid);
  // Every signal is blocked (the parent blocked them before forking), so no
  // handler of the worker can run here; reset them all, unblock at exec.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, nullptr);  // Fails harmlessly on glibc's own.
  }
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd < 0) fail(ChildFailure::kStdio);
  if (null_fd != STDIN_FILENO) {
    if (dup2(null_fd, STDIN_FILENO) < 0) fail(ChildFailure::kStdio);
    close(null_fd);
  }
  for (auto [from, to] : {std::pair{plan.out_fd, STDOUT_FILENO},
                          std::pair{plan.err_fd, STDERR_FILENO}}) {
    // dup2 onto itself would leave close-on-exec set.
    int r = from == to ? fcntl(to, F_SETFD, 0) : dup2(from, to);
    if (r < 0) fail(ChildFailure::kStdio);
  }
  // Keeps only 0-2 and the report pipe (close-on-exec).
  CloseRange(STDERR_FILENO + 1, plan.report_fd - 1, plan.max_fd);
  CloseRange(plan.report_fd + 1, INT_MAX, plan.max_fd);
  for (int i = 0; i < plan.num_limits; ++i) {
    if (setrlimit(plan.limits[i].resource, &plan.limits[i].value) != 0) {
      fail(ChildFailure::kLimit, i);
    }
  }
  // Groups first: setuid drops the right to change them.
  if (plan.switch_user) {
    if (setgroups(plan.num_groups, plan.groups) != 0) {
      fail(ChildFailure::kSetgroups);
    }
    if (setgid(plan.gid) != 0) fail(ChildFailure::kSetgid);
    if (setuid(plan.uid) != 0) fail(ChildFailure::kSetuid);
  }
  // After the switch, so that the directory must be open to the task's user.
  if (plan.cwd != nullptr && chdir(plan.cwd) != 0) fail(ChildFailure::kChdir);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(plan.path, plan.argv, plan.envp);
  fail(ChildFailure::kExec);
  _exit(127);  // Not reached.
}

}  // namespace

absl::StatusOr<std::string> FindProgram(const std::string& name) {
  std::string prefix = absl::StrCat("cannot start \"", name, "\"");
  if (name.empty()) return ErrnoStatus(ENOENT, prefix);
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  if (path == nullptr) path = "/bin:/usr/bin";
  int err = ENOENT;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    struct stat st;
    if (stat(candidate.c_str(), &st) != 0) continue;
    if (!S_ISREG(st.st_mode) || access(candidate.c_str(), X_OK) != 0) {
      err = EACCES;
      continue;
    }
    return candidate;
  }
  return ErrnoStatus(err, prefix);
}

absl::StatusOr<pid_t> ForkExec(const ForkExecSpec& spec) {
  std::string prefix = absl::StrCat("cannot start \"", spec.name, "\"");
  ChildPlan plan;
  plan.path = spec.program.c_str();
  plan.argv = spec.argv;
  plan.envp = spec.envp;
  plan.cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
  plan.out_fd = spec.stdout_fd;
  plan.err_fd = spec.stderr_fd;
  PlanLimits(spec.limits, plan);
  std::vector<gid_t> groups;
  if (spec.run_as != nullptr) {
    plan.switch_user = true;
    plan.uid = spec.run_as->uid;
    plan.gid = spec.run_as->gid;
    groups.assign(spec.run_as->groups.begin(), spec.run_as->groups.end());
    plan.groups = groups.data();
    plan.num_groups = groups.size();
  }
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return ErrnoStatus(errno, absl::StrCat(prefix, ": pipe"));
  }
  ScopedFd report_read(report[0]), report_write(report[1]);
  plan.report_fd = report_write.get();
  rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
      nofile.rlim_cur != RLIM_INFINITY) {
    plan.max_fd = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, INT_MAX));
  }

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // _Fork runs no atfork handlers: the child only makes system calls.
  pid_t pid = _Fork();
  if (pid == 0) RunChild(plan);
  int fork_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  report_write.Reset();
  if (pid < 0) return ErrnoStatus(fork_err, absl::StrCat(prefix, ": fork"));

  ChildFailure failure;
  ssize_t n;
  do {
    n = read(report_read.get(), &failure, sizeof(failure));
  } while (n < 0 && errno == EINTR);
  if (n == 0) return pid;  // Exec'd: the pipe closed on exec.
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != sizeof(failure)) {
    return absl::InternalError(
        absl::StrCat(prefix, ": the child failed before exec"));
  }
  switch (failure.step) {
    case ChildFailure::kExec:
      // The directory was entered already (kChdir), so this is the program.
      return ErrnoStatus(failure.err, prefix);
    case ChildFailure::kChdir:
      return ErrnoStatus(
          failure.err,
          absl::StrCat(prefix, ": working directory \"", plan.cwd, "\""));
    case ChildFailure::kLimit:
      return ErrnoStatus(failure.err,
                         absl::StrCat(prefix, ": setrlimit(",
                                      plan.limits[failure.index].name, ")"));
    case ChildFailure::kSetgroups:
    case ChildFailure::kSetgid:
    case ChildFailure::kSetuid:
      return ErrnoStatus(
          failure.err,
          absl::StrCat(prefix, ": cannot switch to uid ", plan.uid, " (",
                       failure.step == ChildFailure::kSetgroups ? "setgroups"
                       : failure.step == ChildFailure::kSetgid  ? "setgid"
                                                                : "setuid",
                       ")"));
    case ChildFailure::kPgid:
      return ErrnoStatus(failure.err, absl::StrCat(prefix, ": setpgid"));
    case ChildFailure::kStdio:
      return ErrnoStatus(failure.err, absl::StrCat(prefix, ": stdio"));
    default:
      return ErrnoStatus(failure.err, absl::StrCat(prefix, ": before exec"));
  }
}

absl::StatusOr<RunAsUser> LookUpRunAsUser(const std::string& name) {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run tasks as user \"", name,
                     "\": only a worker running as root can switch users"));
  }
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  passwd pw;
  passwd* found = nullptr;
  int rc;
  while ((rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) ==
         ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) {
    return ErrnoStatus(rc, absl::StrCat("cannot look up user \"", name, "\""));
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("no user \"", name, "\""));
  }
  RunAsUser user;
  user.name = name;
  user.home = pw.pw_dir != nullptr ? pw.pw_dir : "/";
  user.uid = pw.pw_uid;
  user.gid = pw.pw_gid;
  std::vector<gid_t> groups(64);
  int count = static_cast<int>(groups.size());
  while (getgrouplist(name.c_str(), pw.pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count) + 64);
    count = static_cast<int>(groups.size());
  }
  user.groups.assign(groups.begin(), groups.begin() + count);
  return user;
}

}  // namespace vitte::task
