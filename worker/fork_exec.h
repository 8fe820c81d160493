// Starting a task's process with fork() + execve(), for what posix_spawn
// cannot do between fork and exec: resource limits and switching users.
#ifndef VITTE_WORKER_FORK_EXEC_H_
#define VITTE_WORKER_FORK_EXEC_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vitte::task {

// strerror_r's text for `err`.
std::string ErrnoText(int err);
// A status with the code for `err` and "context: <its text>".
absl::Status ErrnoStatus(int err, absl::string_view context);

// Resource limits applied to every task, in the child between fork and exec
// (setrlimit). 0 = leave the worker's own limit unchanged. A limit is never
// raised above the worker's current hard limit.
struct TaskLimits {
  // RLIMIT_CPU: CPU seconds (user + system). Past it the task gets SIGXCPU,
  // and SIGKILL one second later if it handles SIGXCPU.
  uint64_t cpu_seconds = 0;
  // RLIMIT_AS: bytes of address space; allocations past it fail (malloc
  // returns null, mmap fails with ENOMEM).
  uint64_t memory_bytes = 0;
  // RLIMIT_NOFILE: open file descriptors; open() past it fails with EMFILE.
  uint64_t open_files = 0;
  // RLIMIT_NPROC: processes (threads included) of the task's real user id, in
  // all (not only this task's): fork() past it fails with EAGAIN. Not
  // enforced for root (CAP_SYS_RESOURCE / CAP_SYS_ADMIN).
  uint64_t processes = 0;

  bool any() const {
    return cpu_seconds != 0 || memory_bytes != 0 || open_files != 0 ||
           processes != 0;
  }
};

// The user tasks run as (ProcessRunnerOptions::run_as); see LookUpRunAsUser.
struct RunAsUser {
  std::string name;
  std::string home;  // its home directory (passwd), for $HOME
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Supplementary groups (the user's groups from the group database).
  std::vector<uint32_t> groups;
};

// Looks `name` up (getpwnam_r, getgrouplist). NOT_FOUND when there is no such
// user; FAILED_PRECONDITION when this process is not root (only root can
// switch users).
absl::StatusOr<RunAsUser> LookUpRunAsUser(const std::string& name);

// Which file posix_spawnp would run for `name`: `name` itself when it has a
// slash, else the first executable regular file so named in a directory of
// this process's PATH. Errors (ENOENT, EACCES) read
// `cannot start "NAME": REASON`.
absl::StatusOr<std::string> FindProgram(const std::string& name);

struct ForkExecSpec {
  // argv[0] as the task gave it, for messages.
  std::string name;
  // The file to execute (FindProgram).
  std::string program;
  // Null-terminated; must outlive the call.
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  // Empty: stay in this process's working directory.
  std::string cwd;
  // Become the child's stdout and stderr; stdin is /dev/null.
  int stdout_fd = -1;
  int stderr_fd = -1;
  TaskLimits limits;
  // Optional, not owned.
  const RunAsUser* run_as = nullptr;
};

// Forks a child that joins a new process group (pgid = its pid), resets every
// signal to its default disposition with an empty mask, takes its stdio from
// `spec`, closes every other descriptor, sets the limits, switches user,
// changes directory (after the switch, so the user must be able to enter it)
// and execs. Returns the child's pid once it has exec'd. A failure in the child
// before or at exec comes back as an error naming the step, e.g.
// `cannot start "x": working directory "/d": Permission denied`; the child is
// then reaped. The child makes only async-signal-safe calls, so this is safe
// from a multithreaded process.
absl::StatusOr<pid_t> ForkExec(const ForkExecSpec& spec);

}  // namespace vitte::task

#endif  // VITTE_WORKER_FORK_EXEC_H_
