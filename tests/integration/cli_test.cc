// End-to-end tests of the vitte-task command line without a daemon: usage,
// and `run` (embedded coordinator and local worker).
#include <signal.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Nothing listens there: a command that needs the daemon cannot reach one.
constexpr char kNowhere[] = "127.0.0.1:1";

class CliTest : public IntegrationTest {};

TEST_F(CliTest, HelpExitsZero) {
  CliResult r = RunCli({"--help"}, absl::Seconds(10));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Usage: vitte-task COMMAND"));
  EXPECT_THAT(r.out, HasSubstr("run FILE.json"));
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  CliResult unknown = RunCli({"--coordinator", kNowhere, "frobnicate"},
                             absl::Seconds(10));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command \"frobnicate\""));

  CliResult none = RunCli({}, absl::Seconds(10));
  EXPECT_EQ(none.exit_code, 2);

  CliResult bad_flag = RunCli({"--no-such-flag", "list"}, absl::Seconds(10));
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_THAT(bad_flag.err, HasSubstr("no-such-flag"));

  CliResult missing_arg = RunCli({"--coordinator", kNowhere, "status"},
                                 absl::Seconds(10));
  EXPECT_EQ(missing_arg.exit_code, 2);
  EXPECT_THAT(missing_arg.err, HasSubstr("status takes one graph id"));

  CliResult bad_output = RunCli(
      {"--coordinator", kNowhere, "list", "--output", "yaml"}, absl::Seconds(10));
  EXPECT_EQ(bad_output.exit_code, 2);
}

TEST_F(CliTest, UnreachableCoordinatorIsAFailure) {
  CliResult r = RunCli({"--coordinator", kNowhere, "list"}, absl::Seconds(20));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot reach the coordinator"));
}

TEST_F(CliTest, RunOriginExampleWithoutDaemon) {
  // `run` keeps a scratch database under $TMPDIR; it must remove it.
  ASSERT_TRUE(std::filesystem::create_directory(Path("tmp")));
  CliResult r = RunCli({"--coordinator", kNowhere, "run",
                        ExamplesDir() + "/origin.json", "--jobs", "2"},
                       absl::Seconds(30), {{"TMPDIR", Path("tmp")}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("2/2 tasks succeeded"));
  EXPECT_THAT(r.err, HasSubstr("build started on local"));
  EXPECT_TRUE(std::filesystem::is_empty(Path("tmp")))
      << "run left its scratch database behind";
}

TEST_F(CliTest, RunReportsFailedTask) {
  v1::GraphSpec spec;
  spec.set_name("run-fail");
  *spec.add_tasks() = ShellTask("bad", "echo broken >&2; exit 3");
  *spec.add_tasks() = ShellTask("next", "touch ran-next", {"bad"});
  spec.mutable_tasks(1)->set_cwd(dir());
  std::string dag = WriteDag("fail.json", spec);
  CliResult r = RunCli({"--coordinator", kNowhere, "run", dag, "--jobs", "2",
                        "--db", Path("run.db")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("task \"bad\" failed: exit code 3"));
  EXPECT_THAT(r.err, HasSubstr("broken"));
  EXPECT_THAT(r.err, HasSubstr("1 task(s) skipped"));
  EXPECT_FALSE(std::filesystem::exists(Path("ran-next")));
}

TEST_F(CliTest, RunRejectsBadGraph) {
  std::string path = Path("cycle.json");
  WriteFileOrFail(path, R"({"tasks": [
      {"id": "a", "command": ["true"], "deps": ["b"]},
      {"id": "b", "command": ["true"], "deps": ["a"]}]})");
  CliResult r = RunCli({"run", path, "--db", Path("run.db")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("dependency cycle: a -> b -> a"));
}

// An interrupted `run` stops its tasks; running it again with the same
// --db resumes the graph without re-running what succeeded.
TEST_F(CliTest, RunResumesAfterInterruption) {
  KillAtTearDown(Path("second.pid"));
  v1::GraphSpec spec;
  spec.set_name("resume");
  *spec.add_tasks() = ShellTask("first", "echo ran >> counter");
  // Until `release` exists, "second" blocks (and tells its pid); the DAG
  // file stays byte-identical between the runs, as resuming requires.
  *spec.add_tasks() = ShellTask(
      "second",
      "if [ -f release ]; then echo ran >> second.log; exit 0; fi; "
      "echo $$ > second.pid; exec sleep 60",
      {"first"});
  for (v1::TaskSpec& t : *spec.mutable_tasks()) t.set_cwd(dir());
  std::string dag = WriteDag("resume.json", spec);
  const std::vector<std::string> args = {"--coordinator", kNowhere, "run", dag,
                                         "--jobs", "2", "--db", Path("run.db")};

  std::unique_ptr<Process> run = StartCli(args);
  ASSERT_NE(run, nullptr);
  ASSERT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return ReadLines(Path("counter")).size() == 1 &&
           ReadPid(Path("second.pid")).has_value();
  })) << run->LogsForDiagnosis();
  std::optional<pid_t> pid = ReadPid(Path("second.pid"));
  ASSERT_TRUE(pid.has_value());
  ASSERT_TRUE(ProcessAlive(*pid));

  ASSERT_TRUE(run->Signal(SIGTERM).ok());
  absl::StatusOr<int> code = run->WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << "run ignored SIGTERM\n" << run->LogsForDiagnosis();
  EXPECT_EQ(*code, 128 + SIGTERM) << run->LogsForDiagnosis();
  EXPECT_THAT(run->Stderr(), HasSubstr("run again with the same --db to resume"));
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] { return !ProcessAlive(*pid); }))
      << "the interrupted run left its task " << *pid << " running";

  WriteFileOrFail(Path("release"), "");
  CliResult again = RunCli(args, absl::Seconds(30));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.err, HasSubstr("resuming graph"));
  EXPECT_THAT(ReadLines(Path("counter")), ElementsAre("ran"))
      << "the task that had succeeded ran again";
  EXPECT_THAT(ReadLines(Path("second.log")), ElementsAre("ran"));

  // A third run of the finished graph runs nothing.
  CliResult third = RunCli(args, absl::Seconds(30));
  EXPECT_EQ(third.exit_code, 0) << third.err;
  EXPECT_THAT(ReadLines(Path("counter")), ElementsAre("ran"));
  EXPECT_THAT(ReadLines(Path("second.log")), ElementsAre("ran"));
}

}  // namespace
}  // namespace vitte::task::integration
