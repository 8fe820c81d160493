// The event stream end to end: `vitte-task watch --output json` follows a
// graph across a daemon crash and restart and misses nothing; a second
// follower resumes from a cursor and gets exactly the rest.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace vitte::task::integration {
namespace {

using EventsTest = IntegrationTest;

std::vector<v1::EventBatch> ParseBatches(const std::string& ndjson) {
  std::vector<v1::EventBatch> out;
  for (absl::string_view line : absl::StrSplit(ndjson, '\n', absl::SkipEmpty())) {
    v1::EventBatch batch;
    auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(line.data(), line.size()), &batch);
    EXPECT_TRUE(status.ok()) << status.message() << " in: " << line;
    out.push_back(std::move(batch));
  }
  return out;
}

// Each task's last state, and how many graph_finished events were seen.
struct Seen {
  std::map<std::string, v1::TaskState> tasks;
  int finished = 0;
  v1::GraphState final_state = v1::GRAPH_STATE_UNSPECIFIED;
};

void Take(const std::vector<v1::EventBatch>& batches, Seen& seen) {
  for (const v1::EventBatch& b : batches) {
    for (const v1::GraphEvent& e : b.events()) {
      if (!e.task_id().empty()) seen.tasks[e.task_id()] = e.task_state();
      if (e.graph_finished()) {
        ++seen.finished;
        seen.final_state = e.graph_state();
      }
    }
  }
}

// A gate task that waits for a file, then ten tasks after it.
std::vector<v1::TaskSpec> GatedTasks(const std::string& release) {
  std::vector<v1::TaskSpec> tasks = {ShellTask(
      "gate", "touch gate-started; i=0; while [ ! -f " + release +
                  " ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done")};
  for (int i = 0; i < 10; ++i) {
    tasks.push_back(ShellTask("t" + std::to_string(i), "true", {"gate"}));
  }
  return tasks;
}

TEST_F(EventsTest, WatchRidesOutADaemonCrashAndMissesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 4}}));
  const std::string id =
      Submit(WriteDag("gated.json", Graph("gated", GatedTasks(Path("release")))));
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return std::filesystem::exists(Path("gate-started"));
  }));
  std::unique_ptr<Process> watch = StartCli(
      {"--coordinator", address(), "watch", id, "--output", "json"});
  ASSERT_NE(watch, nullptr);
  // The first batch (every task as it is) is out before the crash.
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return absl::StrContains(watch->Stdout(), "\"task_id\":\"t9\"");
  })) << watch->LogsForDiagnosis();

  ASSERT_NO_FATAL_FAILURE(RestartCoordinator());
  WriteFileOrFail(Path("release"), "");
  absl::StatusOr<int> code = watch->WaitForExit(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << watch->LogsForDiagnosis();
  EXPECT_EQ(*code, 0) << watch->LogsForDiagnosis();

  std::vector<v1::EventBatch> batches = ParseBatches(watch->Stdout());
  ASSERT_GE(batches.size(), 2u);
  EXPECT_TRUE(batches[0].compacted());
  uint64_t cursor = 0;
  for (const v1::EventBatch& b : batches) {
    EXPECT_GE(b.cursor(), cursor);  // never goes back
    cursor = b.cursor();
  }
  Seen seen;
  Take(batches, seen);
  EXPECT_EQ(seen.finished, 1);
  EXPECT_EQ(seen.final_state, v1::GRAPH_STATE_SUCCEEDED);
  ASSERT_EQ(seen.tasks.size(), 11u);
  for (const auto& [task, state] : seen.tasks) {
    EXPECT_EQ(state, v1::TASK_STATE_SUCCEEDED) << task;
  }

  // A follower that saw only the first batch resumes from its cursor and
  // gets the rest: together they end where the graph ended.
  CliResult rest =
      Cli({"watch", id, "--output", "json", "--after",
           std::to_string(batches[0].cursor())});
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  Seen resumed;
  Take({batches[0]}, resumed);
  Take(ParseBatches(rest.out), resumed);
  EXPECT_EQ(resumed.tasks, seen.tasks);
  EXPECT_EQ(resumed.finished, 1);
}

TEST_F(EventsTest, WatchOfEveryGraphSeesNewGraphs) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}}));
  std::unique_ptr<Process> watch =
      StartCli({"--coordinator", address(), "watch", "--output", "json"});
  ASSERT_NE(watch, nullptr);
  // Its first batch, empty, carries the cursor it starts from.
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return absl::StrContains(watch->Stdout(), "cursor");
  })) << watch->LogsForDiagnosis();
  std::set<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    CliResult r = Cli({"submit", "--wait",
                       WriteDag("g" + std::to_string(i) + ".json",
                                Graph("g", {ShellTask("a", "true")}))});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ids.insert(std::string(absl::StripAsciiWhitespace(r.out)));
  }
  std::set<std::string> finished;
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    finished.clear();
    for (const v1::EventBatch& b : ParseBatches(watch->Stdout())) {
      for (const v1::GraphEvent& e : b.events()) {
        if (e.graph_finished()) finished.insert(e.graph_id());
      }
    }
    return finished == ids;
  })) << watch->LogsForDiagnosis();
  EXPECT_TRUE(watch->Signal(SIGTERM).ok());
}

}  // namespace
}  // namespace vitte::task::integration
