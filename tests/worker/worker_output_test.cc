// Output of running attempts on the worker: what the runner reads goes to
// the session while the task runs, bounded by the coordinator's limit,
// batched, and always ahead of the attempt's result.
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/fake_runner.h"
#include "worker/process_runner.h"
#include "worker/worker.h"

namespace vitte::task {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;

// Upper bound on every wait; a healthy run takes milliseconds.
constexpr absl::Duration kWait = absl::Seconds(30);

WorkAssignment Work(uint64_t id, std::vector<std::string> argv = {"true"}) {
  WorkAssignment a;
  a.attempt_id = id;
  a.task_id = absl::StrCat("t", id);
  a.process.argv = std::move(argv);
  return a;
}

std::string Join(const std::vector<WorkOutput>& output, uint64_t attempt,
                 OutputStream stream) {
  std::string all;
  for (const WorkOutput& o : output) {
    if (o.attempt_id != attempt || o.stream != stream) continue;
    EXPECT_EQ(o.offset, all.size()) << "gap or overlap in the output";
    all += o.data;
  }
  return all;
}

TEST(WorkerOutputTest, KeepsOutputUpToTheLimitButCountsOffsets) {
  FakeRunner runner;
  Worker worker(runner, 2);
  worker.set_output_limit(10);
  worker.Assign({Work(1), Work(2)});
  runner.Write(1, OutputStream::kStdout, "0123456");
  runner.Write(2, OutputStream::kStderr, "err");
  runner.Write(1, OutputStream::kStdout, "789ABCDEF");  // crosses the limit
  runner.Write(1, OutputStream::kStdout, "more");       // beyond it
  std::vector<WorkResult> results;
  std::vector<WorkOutput> output = worker.TakeOutput(results);
  EXPECT_EQ(Join(output, 1, OutputStream::kStdout), "0123456789");
  EXPECT_EQ(Join(output, 2, OutputStream::kStderr), "err");
  EXPECT_THAT(worker.TakeOutput(results), IsEmpty());
}

TEST(WorkerOutputTest, NoLimitNoOutput) {
  FakeRunner runner;
  Worker worker(runner, 1);  // not told a limit: an older coordinator
  worker.Assign({Work(1)});
  runner.Write(1, OutputStream::kStdout, "hello");
  std::vector<WorkResult> results;
  EXPECT_THAT(worker.TakeOutput(results), IsEmpty());
}

TEST(WorkerOutputTest, OutputIsDueAtTheFlushSize) {
  FakeRunner runner;
  Worker worker(runner, 1, {.flush_bytes = 8, .flush_delay = absl::Hours(1)});
  worker.set_output_limit(1 << 20);
  worker.Assign({Work(1)});
  runner.Write(1, OutputStream::kStdout, "12345678");
  // Due by size, not by time (the delay is an hour): TakeResults returns
  // at once instead of at its deadline.
  const absl::Time deadline = absl::Now() + kWait;
  std::vector<WorkResult> results = worker.TakeResults(deadline);
  EXPECT_LT(absl::Now(), deadline) << "TakeResults waited out its deadline";
  EXPECT_THAT(results, IsEmpty());
  EXPECT_EQ(Join(worker.TakeOutput(results), 1, OutputStream::kStdout),
            "12345678");
}

TEST(WorkerOutputTest, ResultWaitsForItsAttemptsOutput) {
  FakeRunner runner;
  Worker worker(runner, 1);
  worker.set_output_limit(1 << 20);
  worker.Assign({Work(1)});
  runner.Write(1, OutputStream::kStdout, std::string(100, 'a'));
  runner.Write(1, OutputStream::kStderr, std::string(100, 'b'));
  runner.Finish(1);
  std::vector<WorkResult> results = worker.TakeResults(absl::Now() + kWait);
  ASSERT_THAT(results, SizeIs(1));
  // Only part of the output fits: the result goes back and comes with the
  // rest, so the coordinator never sees output after the result.
  std::vector<WorkOutput> first = worker.TakeOutput(results, 50);
  EXPECT_THAT(first, SizeIs(1));
  EXPECT_THAT(results, IsEmpty());
  results = worker.TakeResults(absl::Now() + kWait);
  ASSERT_THAT(results, SizeIs(1));
  std::vector<WorkOutput> rest = worker.TakeOutput(results);
  EXPECT_THAT(rest, SizeIs(1));
  EXPECT_THAT(results, SizeIs(1));
}

TEST(WorkerOutputTest, CancelledAttemptsOutputIsDropped) {
  FakeRunner runner;
  Worker worker(runner, 1);
  worker.set_output_limit(1 << 20);
  worker.Assign({Work(1)});
  runner.Write(1, OutputStream::kStdout, "soon cancelled");
  worker.Cancel({1});
  std::vector<WorkResult> results;
  EXPECT_THAT(worker.TakeOutput(results), IsEmpty());
}

// With the real runner: a task that prints, then waits for the test, then
// prints again. Its first line must reach TakeOutput while it still runs.
TEST(WorkerOutputTest, OutputArrivesWhileTheTaskRuns) {
  char dir_template[] = "/tmp/vitte_worker_output_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string release = absl::StrCat(dir_template, "/release");
  absl::StatusOr<std::unique_ptr<ProcessRunner>> runner = ProcessRunner::Create();
  ASSERT_TRUE(runner.ok()) << runner.status();
  {
    Worker worker(**runner, 1);
    worker.set_output_limit(1 << 20);
    // The task gives up after about 30 s, so a failing test still ends.
    worker.Assign({Work(
        1, {"sh", "-c",
            absl::StrCat("echo first; i=0; while [ ! -e '", release,
                         "' ] && [ $i -lt 3000 ]; do sleep 0.01; "
                         "i=$((i+1)); done; echo second")})});
    std::vector<WorkResult> results;
    std::string out;
    const absl::Time deadline = absl::Now() + kWait;
    while (out.empty() && absl::Now() < deadline) {
      results = worker.TakeResults(deadline);
      ASSERT_THAT(results, IsEmpty()) << "the task ended before its release";
      for (const WorkOutput& o : worker.TakeOutput(results)) out += o.data;
    }
    EXPECT_EQ(out, "first\n");
    EXPECT_EQ(worker.running(), 1);  // still waiting for its release

    int fd = open(release.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    close(fd);
    while (results.empty() && absl::Now() < deadline) {
      results = worker.TakeResults(deadline);
      for (const WorkOutput& o : worker.TakeOutput(results)) out += o.data;
    }
    ASSERT_THAT(results, SizeIs(1));
    EXPECT_TRUE(results[0].result.success());
    EXPECT_EQ(out, "first\nsecond\n");
    EXPECT_EQ(results[0].result.stdout_bytes, 13u);
  }
  unlink(release.c_str());
  rmdir(dir_template);
}

}  // namespace
}  // namespace vitte::task
