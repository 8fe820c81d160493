// End-to-end tests of task output: `vitte-task logs` on real processes,
// with a small --max-log-bytes, across a daemon crash, and following a
// running task.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The head the daemons of these tests keep, and the tail a worker keeps by
// default (ProcessRunnerOptions::output_tail_bytes).
constexpr size_t kHeadBytes = 4096;
constexpr size_t kTailBytes = 64 * 1024;

class LogsTest : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    SetTaskdFlag("max-log-bytes", absl::StrCat(kHeadBytes));
  }

  v1::Graph WaitForEnd(const std::string& id) {
    return PollGraph(id, absl::Seconds(30), [](const v1::Graph& g) {
      return g.summary().state() != v1::GRAPH_STATE_RUNNING;
    });
  }
};

// What `seq -f 'line %05g' 1 N` prints.
std::string Lines(int n) {
  std::string all;
  for (int i = 1; i <= n; ++i) absl::StrAppendFormat(&all, "line %05d\n", i);
  return all;
}

TEST_F(LogsTest, ShowsHeadMarkerAndTailAlsoAfterADaemonCrash) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string id = Submit(WriteDag(
      "big.json",
      Graph("big", {ShellTask("big", "seq -f 'line %05g' 1 20000; "
                                     "echo done >&2")})));
  ASSERT_FALSE(id.empty());
  v1::Graph g = WaitForEnd(id);
  ASSERT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();

  // 220,000 bytes: the first 4096 (ending inside a line, so the marker
  // starts a line of its own), the count of those dropped, the last 64 KiB.
  const std::string all = Lines(20000);
  const std::string expected = absl::StrCat(
      all.substr(0, kHeadBytes), "\n[... ",
      all.size() - kHeadBytes - kTailBytes, " bytes not kept ...]\n",
      all.substr(all.size() - kTailBytes));
  CliResult logs = Cli({"logs", id, "big"});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, StartsWith("line 00001\nline 00002\n"));
  EXPECT_THAT(logs.out, HasSubstr("[... 150368 bytes not kept ...]\n"));
  EXPECT_EQ(logs.out, expected);
  EXPECT_EQ(logs.err, "done\n");

  CliResult json = Cli({"logs", id, "big", "--output", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"state\": \"succeeded\""));
  EXPECT_THAT(json.out, HasSubstr("\"stdout_truncated\": true"));
  EXPECT_THAT(json.out, HasSubstr("\"stdout_bytes\": 220000"));
  EXPECT_THAT(json.out, HasSubstr("\"stderr\": \"done\\n\""));
  EXPECT_THAT(json.out, HasSubstr("\"stderr_truncated\": false"));

  // A crash and a restart on the same database: the same output.
  ASSERT_NO_FATAL_FAILURE(RestartCoordinator());
  CliResult after = Cli({"logs", id, "big", "--stream", "stdout"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.out, expected);
  EXPECT_EQ(after.err, "");
}

TEST_F(LogsTest, FollowPrintsLinesAsTheyComeAndEndsWithTheTask) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  // Prints, then waits (at most about 30 s) for the test to release it.
  const std::string id = Submit(WriteDag(
      "slow.json",
      Graph("slow", {ShellTask("slow",
                               "echo first; i=0; while [ ! -e release ] && "
                               "[ $i -lt 3000 ]; do sleep 0.01; "
                               "i=$((i+1)); done; echo second")})));
  ASSERT_FALSE(id.empty());
  v1::Graph g = PollGraph(id, absl::Seconds(20), [](const v1::Graph& g) {
    const v1::Task* t = FindTask(g, "slow");
    return t != nullptr && t->state() == v1::TASK_STATE_RUNNING;
  });
  ASSERT_EQ(FindTask(g, "slow")->state(), v1::TASK_STATE_RUNNING);

  std::unique_ptr<Process> follow =
      StartCli({"--coordinator", address(), "logs", id, "slow", "-f"});
  ASSERT_NE(follow, nullptr);
  // The first line shows while the task still waits for its release.
  ASSERT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return follow->Stdout() == "first\n";
  })) << follow->LogsForDiagnosis();
  EXPECT_FALSE(follow->Exited()) << follow->LogsForDiagnosis();

  WriteFileOrFail(Path("release"), "");
  absl::StatusOr<int> code = follow->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << "logs -f did not end with its task\n"
                         << follow->LogsForDiagnosis();
  EXPECT_EQ(*code, 0) << follow->LogsForDiagnosis();
  EXPECT_EQ(follow->Stdout(), "first\nsecond\n");
}

TEST_F(LogsTest, NamesWhatIsUnknown) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string id =
      Submit(WriteDag("t.json", Graph("t", {ShellTask("t", "echo hi")})));
  ASSERT_FALSE(id.empty());
  WaitForEnd(id);

  CliResult graph = Cli({"logs", "999", "t"});
  EXPECT_EQ(graph.exit_code, 1);
  EXPECT_THAT(graph.err, HasSubstr("unknown graph \"999\""));
  CliResult task = Cli({"logs", id, "nosuch"});
  EXPECT_EQ(task.exit_code, 1);
  EXPECT_THAT(task.err,
              HasSubstr(absl::StrCat("graph ", id, " has no task \"nosuch\"")));
  CliResult attempt = Cli({"logs", id, "t", "--attempt", "4"});
  EXPECT_EQ(attempt.exit_code, 1);
  EXPECT_THAT(attempt.err, HasSubstr("task \"t\" of graph " + id +
                                     " has no attempt 4"));
  CliResult stream = Cli({"logs", id, "t", "--stream", "both-ish"});
  EXPECT_EQ(stream.exit_code, 2);
  CliResult ok = Cli({"logs", id, "t", "--attempt", "1"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "hi\n");
}

}  // namespace
}  // namespace vitte::task::integration
