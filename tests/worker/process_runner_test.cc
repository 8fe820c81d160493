#include "worker/process_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Upper bound on every wait; a healthy run finishes in milliseconds.
constexpr absl::Duration kWait = absl::Seconds(30);
// Runs that should be killed long before their `sleep` ends must finish
// within this.
constexpr absl::Duration kQuick = absl::Seconds(10);

// Collects the result of one run and checks `done` is called only once.
class Waiter {
 public:
  CommandRunner::DoneCallback Callback() {
    return [this](ProcessResult result) {
      if (calls_.fetch_add(1) > 0) {
        ADD_FAILURE() << "done called more than once";
        return;
      }
      result_ = std::move(result);
      notification_.Notify();
    };
  }

  // Waits (bounded) for the result; a timeout fails the test.
  const ProcessResult& Wait() {
    EXPECT_TRUE(notification_.WaitForNotificationWithTimeout(kWait))
        << "done not called within " << kWait;
    return result_;
  }

  bool called() const { return notification_.HasBeenNotified(); }

 private:
  std::atomic<int> calls_{0};
  absl::Notification notification_;
  ProcessResult result_;
};

ProcessSpec Spec(std::vector<std::string> argv) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  return spec;
}

// A directory under the test temp dir, removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    std::string templ = ::testing::TempDir() + "vitte_process_runner_XXXXXX";
    char* made = mkdtemp(templ.data());
    EXPECT_NE(made, nullptr) << "mkdtemp: " << std::strerror(errno);
    char* real = realpath(templ.c_str(), nullptr);
    EXPECT_NE(real, nullptr);
    path_ = real != nullptr ? real : templ;
    free(real);
  }
  ~TempDir() {
    int status = std::system(absl::StrCat("rm -rf '", path_, "'").c_str());
    (void)status;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;  // Canonical (symlinks resolved).
};

// A FIFO a child writes a line into once it reaches a point (trap installed,
// about to sleep), so the test waits for that point instead of sleeping.
class Fifo {
 public:
  explicit Fifo(const TempDir& dir) : path_(dir.path() + "/fifo") {
    EXPECT_EQ(mkfifo(path_.c_str(), 0600), 0) << std::strerror(errno);
    // Non-blocking so opening does not wait for a writer; poll() on a FIFO
    // that never had a writer waits for one rather than reporting POLLHUP.
    fd_ = open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
  }
  ~Fifo() {
    if (fd_ >= 0) close(fd_);
  }
  const std::string& path() const { return path_; }

  // The first line written, without its newline; nullopt after kWait.
  std::optional<std::string> ReadLine() {
    absl::Time deadline = absl::Now() + kWait;
    std::string line;
    while (absl::Now() < deadline) {
      pollfd pfd{fd_, POLLIN, 0};
      int ms =
          static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      if (poll(&pfd, 1, std::max(ms, 0)) <= 0) continue;
      char c;
      ssize_t n;
      while ((n = read(fd_, &c, 1)) == 1) {
        if (c == '\n') return line;
        line.push_back(c);
      }
      if (n == 0 && !line.empty()) return line;
    }
    ADD_FAILURE() << "nothing written to " << path_ << " within " << kWait;
    return std::nullopt;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Whether `pid` is a live (not zombie) process in process group `pgid`. The
// group check keeps a recycled pid from passing as the original process.
bool AliveInGroup(pid_t pid, pid_t pgid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  if (stat.empty()) return false;  // Gone.
  // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parens.
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return false;
  std::istringstream fields(stat.substr(paren + 1));
  char state;
  pid_t ppid, pgrp;
  fields >> state >> ppid >> pgrp;
  return state != 'Z' && state != 'X' && pgrp == pgid;
}

// Waits (bounded) for `pid` of group `pgid` to die. A killed orphan is reaped
// by init at its own pace, and SIGKILL is delivered asynchronously, so this
// polls; it returns as soon as the process is gone or a zombie.
bool EventuallyDead(pid_t pid, pid_t pgid) {
  absl::Time deadline = absl::Now() + kWait;
  while (AliveInGroup(pid, pgid)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// Parses "A B\n" (as printed by `echo $$ $!`) into two pids.
std::pair<pid_t, pid_t> ParsePids(const std::string& out) {
  std::vector<std::string> parts =
      absl::StrSplit(out, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  int a = 0, b = 0;
  EXPECT_EQ(parts.size(), 2u) << out;
  if (parts.size() == 2) {
    EXPECT_TRUE(absl::SimpleAtoi(parts[0], &a)) << out;
    EXPECT_TRUE(absl::SimpleAtoi(parts[1], &b)) << out;
  }
  return {a, b};
}

int CountOpenFds() {
  int count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // The DIR's own fd.
}

// Every test runs four times: exits detected through pidfds, and through the
// waitid() polling fallback used on kernels without pidfd_open(); processes
// started with posix_spawnp(), and with fork() + execve() (the path taken
// when task limits are set; a generous open-files limit selects it).
struct RunnerMode {
  bool pidfd;
  bool forked;
};

class ProcessRunnerTest : public ::testing::TestWithParam<RunnerMode> {
 protected:
  std::unique_ptr<ProcessRunner> MakeRunner(ProcessRunnerOptions options = {}) {
    options.use_pidfd = GetParam().pidfd;
    if (GetParam().forked && !options.limits.any()) {
      options.limits.open_files = 1 << 16;
    }
    absl::StatusOr<std::unique_ptr<ProcessRunner>> runner =
        ProcessRunner::Create(options);
    EXPECT_TRUE(runner.ok()) << runner.status();
    return runner.ok() ? std::move(*runner) : nullptr;
  }

  // Runs `spec` to completion on `runner`.
  ProcessResult Run(ProcessRunner& runner, ProcessSpec spec) {
    Waiter waiter;
    runner.Start(next_id_++, std::move(spec), waiter.Callback());
    return waiter.Wait();
  }

  uint64_t next_id_ = 1;
};

TEST_P(ProcessRunnerTest, ExitZero) {
  auto runner = MakeRunner();
  absl::Time before = absl::Now();
  ProcessResult result = Run(*runner, Spec({"true"}));
  EXPECT_TRUE(result.started);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.signal, 0);
  EXPECT_EQ(result.error, "");
  EXPECT_TRUE(result.success());
  EXPECT_GE(result.started_at, before);
  EXPECT_GE(result.finished_at, result.started_at);
  EXPECT_LE(result.finished_at, absl::Now());
}

// The spawn latency histogram observes spawns that succeeded, not those
// that failed.
TEST_P(ProcessRunnerTest, ObservesSpawnLatency) {
  Histogram spawn_seconds(LatencyBuckets());
  auto runner = MakeRunner({.spawn_seconds = &spawn_seconds});
  EXPECT_TRUE(Run(*runner, Spec({"true"})).success());
  EXPECT_TRUE(Run(*runner, Spec({"sh", "-c", "exit 3"})).started);
  EXPECT_FALSE(Run(*runner, Spec({"/no/such/program"})).started);
  EXPECT_EQ(spawn_seconds.Count(), 2u);
  EXPECT_GT(spawn_seconds.Sum(), 0);
}

TEST_P(ProcessRunnerTest, ExitNonZero) {
  auto runner = MakeRunner();
  ProcessResult result = Run(*runner, Spec({"sh", "-c", "exit 3"}));
  EXPECT_TRUE(result.started);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.signal, 0);
  EXPECT_FALSE(result.success());
}

TEST_P(ProcessRunnerTest, KilledBySignal) {
  auto runner = MakeRunner();
  ProcessResult result = Run(*runner, Spec({"sh", "-c", "kill -KILL $$"}));
  EXPECT_TRUE(result.started);
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_FALSE(result.timed_out);
  EXPECT_FALSE(result.cancelled);
}

TEST_P(ProcessRunnerTest, CapturesStdoutAndStderrSeparately) {
  auto runner = MakeRunner();
  ProcessResult result =
      Run(*runner, Spec({"sh", "-c", "echo out1; echo err1 >&2; echo out2"}));
  EXPECT_EQ(result.stdout_tail, "out1\nout2\n");
  EXPECT_EQ(result.stderr_tail, "err1\n");
}

TEST_P(ProcessRunnerTest, KeepsBoundedTailWithTruncationMark) {
  auto runner = MakeRunner({.output_tail_bytes = 1000});
  // About 1.3 MB, far beyond the pipe capacity and the tail.
  std::string all;
  for (int i = 1; i <= 200000; ++i) absl::StrAppend(&all, i, "\n");
  ProcessResult result = Run(*runner, Spec({"seq", "1", "200000"}));
  ASSERT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.stdout_tail,
            absl::StrCat("[... ", all.size() - 1000, " bytes truncated ...]\n",
                         all.substr(all.size() - 1000)));
  EXPECT_EQ(result.stderr_tail, "");
}

TEST_P(ProcessRunnerTest, HandsEveryByteToOnOutputAndCountsThem) {
  auto runner = MakeRunner({.output_tail_bytes = 1000});
  std::string all;
  for (int i = 1; i <= 200000; ++i) absl::StrAppend(&all, i, "\n");
  // Written on the runner's thread, read here after `done`.
  std::string out, err;
  ProcessSpec spec = Spec({"sh", "-c", "seq 1 200000; echo oops >&2"});
  spec.on_output = [&](OutputStream stream, absl::string_view data) {
    (stream == OutputStream::kStdout ? out : err)
        .append(data.data(), data.size());
  };
  ProcessResult result = Run(*runner, std::move(spec));
  ASSERT_EQ(result.exit_code, 0);
  EXPECT_EQ(out, all);  // in order, nothing lost, beyond the tail too
  EXPECT_EQ(err, "oops\n");
  EXPECT_EQ(result.stdout_bytes, all.size());
  EXPECT_EQ(result.stderr_bytes, 5u);
}

TEST_P(ProcessRunnerTest, PassesArgvExactly) {
  auto runner = MakeRunner();
  ProcessResult result =
      Run(*runner, Spec({"printf", "[%s]", "a b", "\"q\"", "it's", "$HOME", "*",
                         "", "x\\ny"}));
  EXPECT_EQ(result.exit_code, 0) << result.stderr_tail;
  EXPECT_EQ(result.stdout_tail, "[a b][\"q\"][it's][$HOME][*][][x\\ny]");
}

TEST_P(ProcessRunnerTest, EnvOverridesAndExtendsRunnerEnvironment) {
  ASSERT_EQ(setenv("VITTE_PR_INHERITED", "inherited", 1), 0);
  ASSERT_EQ(setenv("VITTE_PR_OVERRIDDEN", "old", 1), 0);
  auto runner = MakeRunner();
  ProcessSpec spec = Spec({"env"});
  spec.env = {{"VITTE_PR_OVERRIDDEN", "new value"}, {"VITTE_PR_ADDED", "a=b"}};
  ProcessResult result = Run(*runner, std::move(spec));
  unsetenv("VITTE_PR_INHERITED");
  unsetenv("VITTE_PR_OVERRIDDEN");

  std::vector<std::string> lines =
      absl::StrSplit(result.stdout_tail, '\n', absl::SkipEmpty());
  std::multiset<std::string> vitte_vars;
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, "VITTE_PR_")) vitte_vars.insert(line);
  }
  EXPECT_EQ(vitte_vars, (std::multiset<std::string>{
                            "VITTE_PR_ADDED=a=b",
                            "VITTE_PR_INHERITED=inherited",
                            "VITTE_PR_OVERRIDDEN=new value",
                        }));
}

TEST_P(ProcessRunnerTest, AppliesCwd) {
  TempDir dir;
  auto runner = MakeRunner();
  ProcessSpec spec = Spec({"pwd", "-P"});
  spec.cwd = dir.path();
  ProcessResult result = Run(*runner, std::move(spec));
  EXPECT_EQ(result.exit_code, 0) << result.stderr_tail;
  EXPECT_EQ(result.stdout_tail, dir.path() + "\n");
}

TEST_P(ProcessRunnerTest, MissingProgramIsNotStarted) {
  auto runner = MakeRunner();
  ProcessResult result = Run(*runner, Spec({"vitte-no-such-program", "x"}));
  EXPECT_FALSE(result.started);
  EXPECT_FALSE(result.success());
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_EQ(result.error,
            "cannot start \"vitte-no-such-program\": No such file or "
            "directory");
  EXPECT_EQ(runner->running(), 0);
}

TEST_P(ProcessRunnerTest, MissingCwdIsNotStarted) {
  TempDir dir;
  auto runner = MakeRunner();
  const std::string missing = dir.path() + "/missing";
  ProcessSpec spec = Spec({"true"});
  spec.cwd = missing;
  ProcessResult result = Run(*runner, std::move(spec));
  EXPECT_FALSE(result.started);
  EXPECT_EQ(result.error,
            absl::StrCat("cannot start \"true\": working directory \"", missing,
                         "\": No such file or directory"));
}

TEST_P(ProcessRunnerTest, EmptyArgvIsNotStarted) {
  auto runner = MakeRunner();
  ProcessResult result = Run(*runner, ProcessSpec{});
  EXPECT_FALSE(result.started);
  EXPECT_THAT(result.error, HasSubstr("empty argv"));
}

TEST_P(ProcessRunnerTest, TimeoutTerminatesProcess) {
  auto runner = MakeRunner();
  ProcessSpec spec = Spec({"sleep", "30"});
  spec.timeout = absl::Milliseconds(200);
  ProcessResult result = Run(*runner, std::move(spec));
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.timed_out);
  EXPECT_FALSE(result.cancelled);
  EXPECT_EQ(result.signal, SIGTERM);
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_FALSE(result.success());
  EXPECT_GE(result.finished_at - result.started_at, absl::Milliseconds(200));
  EXPECT_LT(result.finished_at - result.started_at, kQuick);
}

TEST_P(ProcessRunnerTest, TimeoutSignalsWholeProcessGroup) {
  auto runner = MakeRunner();
  // sh waits for its background sleep; signalling only sh would leave the
  // sleep running.
  ProcessSpec spec = Spec({"sh", "-c", "sleep 60 & echo $$ $!; wait"});
  spec.timeout = absl::Milliseconds(300);
  ProcessResult result = Run(*runner, std::move(spec));
  EXPECT_TRUE(result.timed_out);
  EXPECT_LT(result.finished_at - result.started_at, kQuick);
  auto [sh_pid, sleep_pid] = ParsePids(result.stdout_tail);
  ASSERT_GT(sleep_pid, 0);
  EXPECT_TRUE(EventuallyDead(sleep_pid, /*pgid=*/sh_pid));
}

TEST_P(ProcessRunnerTest, KillsBackgroundProcessLeftAfterExit) {
  auto runner = MakeRunner();
  // The sleep keeps stdout open; the run must end without waiting for EOF
  // and must not leave the sleep behind.
  ProcessResult result =
      Run(*runner, Spec({"sh", "-c", "sleep 60 & echo $$ $!"}));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.signal, 0);
  EXPECT_TRUE(result.success());
  EXPECT_LT(result.finished_at - result.started_at, kQuick);
  auto [sh_pid, sleep_pid] = ParsePids(result.stdout_tail);
  ASSERT_GT(sleep_pid, 0);
  EXPECT_TRUE(EventuallyDead(sleep_pid, /*pgid=*/sh_pid));
}

TEST_P(ProcessRunnerTest, CancelTerminatesRunningProcess) {
  TempDir dir;
  Fifo fifo(dir);
  auto runner = MakeRunner();
  Waiter waiter;
  runner->Start(
      7, Spec({"sh", "-c", "echo ready > \"$0\"; exec sleep 30", fifo.path()}),
      waiter.Callback());
  ASSERT_EQ(fifo.ReadLine(), "ready");
  EXPECT_EQ(runner->running(), 1);
  runner->Cancel(7);
  const ProcessResult& result = waiter.Wait();
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.cancelled);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.signal, SIGTERM);
  EXPECT_LT(result.finished_at - result.started_at, kQuick);
  EXPECT_EQ(runner->running(), 0);
}

TEST_P(ProcessRunnerTest, CancelSignalsWholeProcessGroup) {
  TempDir dir;
  Fifo fifo(dir);
  // Only the grace period ending would stop the child if SIGTERM reached the
  // main process alone, and then "child got TERM" would be missing.
  auto runner = MakeRunner({.kill_grace = absl::Seconds(3)});
  Waiter waiter;
  // sh waits for its child even after TERM (trapped), so the child's output
  // is complete when the run ends.
  const char* script = R"(
    trap : TERM
    sh -c 'trap "echo child got TERM; exit 0" TERM
           sleep 30 & echo ready > "$0"; wait' "$0" &
    wait; wait
    echo main exits)";
  runner->Start(1, Spec({"sh", "-c", script, fifo.path()}), waiter.Callback());
  ASSERT_EQ(fifo.ReadLine(), "ready");
  runner->Cancel(1);
  const ProcessResult& result = waiter.Wait();
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.stdout_tail, "child got TERM\nmain exits\n");
  EXPECT_EQ(result.exit_code, 0);
}

TEST_P(ProcessRunnerTest, DoesNotWaitForEofFromProcessOutsideGroup) {
  TempDir dir;
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto runner = MakeRunner();
  // setsid moves the sleep out of the group, beyond the runner's reach, with
  // the run's stdout still open. The main process exits only once the escape
  // has happened (the FIFO is written after setsid), or the group kill might
  // get there first.
  const char* script = R"(
    setsid sh -c 'echo $$ > "$0"; exec sleep 60' "$0" &
    read pid < "$0"
    echo $pid)";
  ProcessResult result = Run(*runner, Spec({"sh", "-c", script, fifo}));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_LT(result.finished_at - result.started_at, kQuick);
  int escaped = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(absl::StripSuffix(result.stdout_tail, "\n"), &escaped))
      << result.stdout_tail;
  ASSERT_GT(escaped, 0);
  kill(escaped, SIGKILL);
}

TEST_P(ProcessRunnerTest, CancelRightAfterStartStillCancels) {
  auto runner = MakeRunner();
  Waiter waiter;
  runner->Start(7, Spec({"sleep", "30"}), waiter.Callback());
  runner->Cancel(7);
  const ProcessResult& result = waiter.Wait();
  EXPECT_TRUE(result.cancelled);
  EXPECT_LT(result.finished_at - result.started_at, kQuick);
}

TEST_P(ProcessRunnerTest, SigkillAfterGraceWhenSigtermIgnored) {
  TempDir dir;
  Fifo fifo(dir);
  const absl::Duration grace = absl::Milliseconds(200);
  auto runner = MakeRunner({.kill_grace = grace});
  Waiter waiter;
  // The ignored TERM is inherited by the sleep, so the whole group ignores it.
  runner->Start(1,
                Spec({"sh", "-c", "trap '' TERM; echo ready > \"$0\"; sleep 30",
                      fifo.path()}),
                waiter.Callback());
  ASSERT_EQ(fifo.ReadLine(), "ready");
  absl::Time cancelled_at = absl::Now();
  runner->Cancel(1);
  const ProcessResult& result = waiter.Wait();
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_GE(result.finished_at - cancelled_at, grace - absl::Milliseconds(10));
  EXPECT_LT(result.finished_at - cancelled_at, kQuick);
}

TEST_P(ProcessRunnerTest, CancelOfUnknownRunIsIgnored) {
  auto runner = MakeRunner();
  runner->Cancel(12345);
  ProcessResult result = Run(*runner, Spec({"true"}));
  EXPECT_TRUE(result.success());
}

TEST_P(ProcessRunnerTest, DuplicateRunIdIsRejected) {
  auto runner = MakeRunner();
  Waiter first, second;
  runner->Start(5, Spec({"sleep", "30"}), first.Callback());
  runner->Start(5, Spec({"true"}), second.Callback());
  const ProcessResult& rejected = second.Wait();
  EXPECT_FALSE(rejected.started);
  EXPECT_EQ(rejected.error, "run 5 is already in progress");
  EXPECT_FALSE(first.called());
  runner->Cancel(5);
  EXPECT_TRUE(first.Wait().cancelled);
}

TEST_P(ProcessRunnerTest, RunningCountsRunsInProgress) {
  auto runner = MakeRunner();
  EXPECT_EQ(runner->running(), 0);
  Waiter waiters[3];
  for (int i = 0; i < 3; ++i) {
    runner->Start(i, Spec({"sleep", "30"}), waiters[i].Callback());
  }
  EXPECT_EQ(runner->running(), 3);
  runner->Cancel(1);
  waiters[1].Wait();
  EXPECT_EQ(runner->running(), 2);
  runner->Cancel(0);
  runner->Cancel(2);
  waiters[0].Wait();
  waiters[2].Wait();
  EXPECT_EQ(runner->running(), 0);
}

TEST_P(ProcessRunnerTest, ManyConcurrentRuns) {
  constexpr int kRuns = 200;
  auto runner = MakeRunner();
  absl::Mutex mu;
  std::multiset<uint64_t> ids;
  int failures = 0;
  absl::Notification all_done;
  for (int i = 0; i < kRuns; ++i) {
    runner->Start(i, Spec({"sh", "-c", "echo $0", absl::StrCat(i)}),
                  [&, i](ProcessResult result) {
                    absl::MutexLock lock(&mu);
                    ids.insert(i);
                    if (!result.success() ||
                        result.stdout_tail != absl::StrCat(i, "\n")) {
                      ++failures;
                    }
                    if (ids.size() == kRuns) all_done.Notify();
                  });
  }
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(kWait));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(failures, 0);
  std::multiset<uint64_t> expected;
  for (int i = 0; i < kRuns; ++i) expected.insert(i);
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(runner->running(), 0);
}

TEST_P(ProcessRunnerTest, StartAndCancelFromDoneCallback) {
  auto runner = MakeRunner();
  Waiter sleeper, second;
  runner->Start(1, Spec({"sleep", "30"}), sleeper.Callback());
  ProcessRunner* r = runner.get();
  runner->Start(2, Spec({"true"}), [&, r](ProcessResult) {
    r->Cancel(1);
    r->Start(3, Spec({"echo", "second"}), second.Callback());
  });
  EXPECT_EQ(second.Wait().stdout_tail, "second\n");
  EXPECT_TRUE(sleeper.Wait().cancelled);
}

TEST_P(ProcessRunnerTest, DestructorStopsRunsAndReportsThem) {
  TempDir dir;
  Fifo fifo(dir);
  auto runner = MakeRunner();
  Waiter reported, plain, started_during_shutdown;
  ProcessRunner* r = runner.get();
  runner->Start(
      1, Spec({"sh", "-c", "echo $$ > \"$0\"; exec sleep 30", fifo.path()}),
      [&, r](ProcessResult result) {
        r->Start(3, Spec({"true"}), started_during_shutdown.Callback());
        reported.Callback()(std::move(result));
      });
  runner->Start(2, Spec({"sh", "-c", "echo $$ > \"$0\"; exec sleep 30",
                         fifo.path()}),
                plain.Callback());
  // Both are running (each wrote its pid) before the runner goes: a run
  // still waiting to be spawned would report that it never started.
  std::vector<int> pids;
  for (int i = 0; i < 2; ++i) {
    std::optional<std::string> line = fifo.ReadLine();
    ASSERT_TRUE(line.has_value());
    ASSERT_TRUE(absl::SimpleAtoi(*line, &pids.emplace_back())) << *line;
  }

  absl::Time before = absl::Now();
  runner.reset();
  EXPECT_LT(absl::Now() - before, kQuick);
  // Callbacks ran before the destructor returned.
  ASSERT_TRUE(reported.called());
  ASSERT_TRUE(plain.called());
  ASSERT_TRUE(started_during_shutdown.called());
  for (Waiter* w : {&reported, &plain}) {
    const ProcessResult& result = w->Wait();
    EXPECT_TRUE(result.started);
    EXPECT_TRUE(result.cancelled);
    EXPECT_EQ(result.error, "runner shut down");
    EXPECT_EQ(result.signal, SIGKILL);
  }
  EXPECT_FALSE(started_during_shutdown.Wait().started);
  EXPECT_EQ(started_during_shutdown.Wait().error, "runner shut down");
  // The runner reaped them, so they are gone at once, not even zombies.
  for (int pid : pids) {
    EXPECT_FALSE(AliveInGroup(pid, pid));
    EXPECT_EQ(kill(pid, 0), -1);
  }
}

TEST_P(ProcessRunnerTest, LeaksNoFdsOrZombies) {
  int fds_before = CountOpenFds();
  {
    auto runner = MakeRunner();
    Run(*runner, Spec({"sh", "-c", "echo out; echo err >&2"}));
    Run(*runner, Spec({"vitte-no-such-program"}));
    ProcessSpec slow = Spec({"sleep", "30"});
    slow.timeout = absl::Milliseconds(50);
    Run(*runner, std::move(slow));
    Run(*runner, Spec({"sh", "-c", "sleep 60 & echo $!"}));
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
  // No child of this test process is left, not even a zombie.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_P(ProcessRunnerTest, ChildStartsWithCleanSignalStateAndFds) {
  // State a worker might have: a blocked signal (inherited by the supervisor
  // thread from this one), an ignored one, and an fd without O_CLOEXEC.
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  struct sigaction ignore = {}, old_action;
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGINT, &ignore, &old_action), 0);
  int leaky_fd = open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky_fd, 0);

  auto runner = MakeRunner();
  ProcessResult signals =
      Run(*runner, Spec({"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"}));
  ProcessResult fds =
      Run(*runner, Spec({"sh", "-c",
                         absl::StrCat("test -e /proc/self/fd/", leaky_fd,
                                      " && echo leaked || echo clean")}));
  runner.reset();

  close(leaky_fd);
  sigaction(SIGINT, &old_action, nullptr);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);

  std::vector<std::string> lines =
      absl::StrSplit(signals.stdout_tail, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << signals.stdout_tail;
  EXPECT_EQ(lines[0], "SigBlk:\t0000000000000000");
  uint64_t ignored = 0;
  ASSERT_TRUE(
      absl::SimpleHexAtoi(absl::StripPrefix(lines[1], "SigIgn:\t"), &ignored))
      << lines[1];
  // glibc's posix_spawn leaves its two internal signals (32 and 33, which
  // sigfillset() omits) ignored; a glibc program never sees them. Bit n-1
  // stands for signal n.
  const uint64_t glibc_internal = (uint64_t{1} << 31) | (uint64_t{1} << 32);
  EXPECT_EQ(ignored & ~glibc_internal, 0u) << lines[1];
  EXPECT_EQ(fds.stdout_tail, "clean\n");
}

// Task limits. Each spec has a wall-clock timeout far beyond what the limit
// needs, so that a limit that does not work fails the test instead of
// hanging it.

bool HavePython() { return access("/usr/bin/python3", X_OK) == 0; }

TEST_P(ProcessRunnerTest, LimitsAreSetInTheChildOnly) {
  auto runner = MakeRunner({.limits = {.cpu_seconds = 7,
                                       .memory_bytes = 512 << 20,
                                       .open_files = 64}});
  ProcessResult result =
      Run(*runner, Spec({"sh", "-c", "ulimit -t; ulimit -v; ulimit -n"}));
  ASSERT_TRUE(result.success()) << result.error << result.stderr_tail;
  EXPECT_EQ(result.stdout_tail, "7\n524288\n64\n");
  rlimit own;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &own), 0);
  EXPECT_NE(own.rlim_cur, 64u);
}

TEST_P(ProcessRunnerTest, MemoryLimitFailsLargeAllocation) {
  if (!HavePython()) GTEST_SKIP() << "no /usr/bin/python3";
  auto runner = MakeRunner({.limits = {.memory_bytes = 256 << 20}});
  ProcessSpec big = Spec(
      {"/usr/bin/python3", "-c", "x = bytearray(1024 * 1024 * 1024)"});
  big.timeout = kWait;
  ProcessResult result = Run(*runner, std::move(big));
  EXPECT_TRUE(result.started) << result.error;
  EXPECT_FALSE(result.success());
  EXPECT_FALSE(result.timed_out);
  EXPECT_THAT(result.stderr_tail, HasSubstr("MemoryError"));
  // A small allocation under the same limit works.
  ProcessResult small = Run(
      *runner,
      Spec({"/usr/bin/python3", "-c", "x = bytearray(16 * 1024 * 1024)"}));
  EXPECT_TRUE(small.success()) << small.error << small.stderr_tail;
}

TEST_P(ProcessRunnerTest, CpuLimitEndsBusyLoop) {
  auto runner = MakeRunner({.limits = {.cpu_seconds = 1}});
  ProcessSpec spec = Spec({"sh", "-c", "while :; do :; done"});
  spec.timeout = kWait;
  ProcessResult result = Run(*runner, std::move(spec));
  EXPECT_TRUE(result.started) << result.error;
  EXPECT_FALSE(result.timed_out);
  EXPECT_TRUE(result.signal == SIGXCPU || result.signal == SIGKILL)
      << result.signal;
  EXPECT_EQ(result.error, "CPU time limit exceeded (--task-cpu-seconds 1)");
}

TEST_P(ProcessRunnerTest, OpenFilesLimitFailsManyOpens) {
  if (!HavePython()) GTEST_SKIP() << "no /usr/bin/python3";
  auto runner = MakeRunner({.limits = {.open_files = 32}});
  ProcessSpec spec =
      Spec({"/usr/bin/python3", "-c",
            "fs = [open('/dev/null') for _ in range(100)]"});
  spec.timeout = kWait;
  ProcessResult result = Run(*runner, std::move(spec));
  EXPECT_TRUE(result.started) << result.error;
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.stderr_tail, HasSubstr("Too many open files"));
}

TEST_P(ProcessRunnerTest, ForkedMissingProgramAndCwdAreNotStarted) {
  TempDir dir;
  auto runner = MakeRunner({.limits = {.open_files = 64}});
  ProcessResult result = Run(*runner, Spec({"vitte-no-such-program", "x"}));
  EXPECT_FALSE(result.started);
  EXPECT_EQ(result.error,
            "cannot start \"vitte-no-such-program\": No such file or "
            "directory");
  ProcessSpec spec = Spec({"true"});
  spec.cwd = dir.path() + "/missing";
  result = Run(*runner, std::move(spec));
  EXPECT_FALSE(result.started);
  EXPECT_EQ(result.error,
            absl::StrCat("cannot start \"true\": working directory \"",
                         dir.path(), "/missing\": No such file or directory"));
  EXPECT_EQ(runner->running(), 0);
}

TEST_P(ProcessRunnerTest, OutputLimitKillsEndlessWriter) {
  auto runner =
      MakeRunner({.output_tail_bytes = 1000, .max_output_bytes = 1 << 20});
  ProcessSpec spec = Spec({"yes"});
  spec.timeout = kWait;
  ProcessResult result = Run(*runner, std::move(spec));
  EXPECT_TRUE(result.started);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_GT(result.stdout_bytes, uint64_t{1} << 20);
  EXPECT_LE(result.stdout_tail.size(), 1100u);
  EXPECT_EQ(result.error,
            "output limit exceeded: the task wrote more than 1048576 bytes to "
            "stdout and stderr, killed (--max-task-output-bytes 1048576)");
}

// Without a limit, a task writing fast keeps only the bounded tail: the
// runner's memory does not grow with the output.
TEST_P(ProcessRunnerTest, LargeOutputKeepsOnlyTheTail) {
  auto runner = MakeRunner({.output_tail_bytes = 1000});
  ProcessResult result =
      Run(*runner, Spec({"head", "-c", "50000000", "/dev/zero"}));
  ASSERT_TRUE(result.success()) << result.error;
  EXPECT_EQ(result.stdout_bytes, 50000000u);
  EXPECT_EQ(result.stdout_tail,
            absl::StrCat("[... ", 50000000 - 1000, " bytes truncated ...]\n",
                         std::string(1000, '\0')));
}

bool IsUnderForTest(const std::string& dir, const std::string& root) {
  return dir == root || absl::StartsWith(dir, root + "/");
}

// A root with `allowed` (the root), `allowed/sub`, `outside`, and
// `allowed/link` -> `outside`.
struct CwdTree {
  CwdTree()
      : allowed(dir.path() + "/allowed"),
        sub(allowed + "/sub"),
        outside(dir.path() + "/outside"),
        link(allowed + "/link") {
    EXPECT_EQ(mkdir(allowed.c_str(), 0755), 0);
    EXPECT_EQ(mkdir(sub.c_str(), 0755), 0);
    EXPECT_EQ(mkdir(outside.c_str(), 0755), 0);
    EXPECT_EQ(symlink(outside.c_str(), link.c_str()), 0);
  }
  TempDir dir;
  std::string allowed, sub, outside, link;
};

TEST_P(ProcessRunnerTest, AllowedCwdRunsUnderARoot) {
  CwdTree tree;
  auto runner = MakeRunner({.allowed_cwds = {tree.allowed}});
  for (const std::string& cwd : {tree.allowed, tree.sub,
                                  tree.sub + "/../sub"}) {
    ProcessSpec spec = Spec({"pwd", "-P"});
    spec.cwd = cwd;
    ProcessResult result = Run(*runner, std::move(spec));
    EXPECT_TRUE(result.success()) << cwd << ": " << result.error;
  }
}

TEST_P(ProcessRunnerTest, CwdOutsideRootsIsRefusedBeforeStarting) {
  CwdTree tree;
  TempDir other;
  auto runner = MakeRunner({.allowed_cwds = {tree.allowed, other.path()}});
  for (const std::string& cwd :
       {tree.outside, tree.link, tree.sub + "/../../outside",
        tree.allowed + "x"}) {
    if (cwd == tree.allowed + "x") mkdir(cwd.c_str(), 0755);
    ProcessSpec spec = Spec({"sh", "-c", "touch marker"});
    spec.cwd = cwd;
    ProcessResult result = Run(*runner, std::move(spec));
    EXPECT_FALSE(result.started) << cwd;
    EXPECT_THAT(result.error, HasSubstr(absl::StrCat("working directory \"",
                                                     cwd, "\"")));
    EXPECT_THAT(result.error,
                HasSubstr(absl::StrCat("is not under an allowed directory "
                                       "(--allowed-cwd): ",
                                       tree.allowed, ", ", other.path())));
    EXPECT_NE(access((cwd + "/marker").c_str(), F_OK), 0) << cwd;
  }
  EXPECT_NE(access((tree.outside + "/marker").c_str(), F_OK), 0);
  EXPECT_EQ(runner->running(), 0);
}

TEST_P(ProcessRunnerTest, EmptyCwdIsCheckedAsTheRunnersOwn) {
  CwdTree tree;
  auto runner = MakeRunner({.allowed_cwds = {tree.allowed}});
  char* own = getcwd(nullptr, 0);
  ASSERT_NE(own, nullptr);
  std::string own_cwd(own);
  free(own);
  if (IsUnderForTest(own_cwd, tree.allowed)) GTEST_SKIP();
  ProcessResult result = Run(*runner, Spec({"true"}));
  EXPECT_FALSE(result.started);
  EXPECT_THAT(result.error, HasSubstr("working directory \".\""));
}

TEST_P(ProcessRunnerTest, RunAsUserCannotWriteWhereOnlyRootCan) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  absl::StatusOr<RunAsUser> nobody = LookUpRunAsUser("nobody");
  if (!nobody.ok()) GTEST_SKIP() << nobody.status();
  TempDir dir;
  const std::string private_dir = dir.path() + "/private";
  ASSERT_EQ(mkdir(private_dir.c_str(), 0700), 0);
  auto runner = MakeRunner({.run_as = *nobody});
  ProcessSpec spec = Spec(
      {"sh", "-c",
       absl::StrCat("id -u; id -g; echo \"$HOME $USER $LOGNAME\"; touch '",
                    private_dir, "/x'")});
  spec.cwd = "/";
  ProcessResult result = Run(*runner, std::move(spec));
  EXPECT_TRUE(result.started) << result.error;
  EXPECT_NE(result.exit_code, 0);
  // Its environment is the user's too, not the worker's.
  EXPECT_EQ(result.stdout_tail,
            absl::StrCat(nobody->uid, "\n", nobody->gid, "\n", nobody->home,
                         " nobody nobody\n"));
  EXPECT_THAT(result.stderr_tail, HasSubstr("Permission denied"));
  EXPECT_NE(access((private_dir + "/x").c_str(), F_OK), 0);
  // Root, for comparison, can.
  auto as_root = MakeRunner();
  EXPECT_TRUE(
      Run(*as_root, Spec({"touch", private_dir + "/x"})).success());
}

TEST(ProcessRunnerCreateTest, MissingAllowedCwdIsRejected) {
  absl::StatusOr<std::unique_ptr<ProcessRunner>> runner =
      ProcessRunner::Create({.allowed_cwds = {"/no/such/vitte/dir"}});
  ASSERT_FALSE(runner.ok());
  EXPECT_EQ(runner.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(runner.status().message(), HasSubstr("/no/such/vitte/dir"));
}

INSTANTIATE_TEST_SUITE_P(
    ExitDetection, ProcessRunnerTest,
    ::testing::Values(RunnerMode{true, false}, RunnerMode{false, false},
                      RunnerMode{true, true}, RunnerMode{false, true}),
    [](const ::testing::TestParamInfo<RunnerMode>& info) {
      return absl::StrCat(info.param.pidfd ? "Pidfd" : "WaitidPolling",
                          info.param.forked ? "Forked" : "Spawned");
    });

}  // namespace
}  // namespace vitte::task
