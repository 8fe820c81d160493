// `--output json` is for scripts: its shapes (key names, enum spellings)
// are a contract. These tests pin them, reading the output as generic JSON
// rather than through our own messages, so that a renamed field fails here.
#include <set>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace vitte::task::integration {
namespace {

using ::testing::IsSupersetOf;
using ::testing::UnorderedElementsAre;
using Struct = google::protobuf::Struct;

Struct ParseObject(absl::string_view json) {
  Struct out;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &out);
  EXPECT_TRUE(status.ok()) << status.message() << " in: " << json;
  return out;
}

std::set<std::string> Keys(const Struct& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.fields()) keys.insert(key);
  return keys;
}

const Struct& Object(const Struct& parent, const std::string& key) {
  return parent.fields().at(key).struct_value();
}

const Struct& First(const Struct& parent, const std::string& key) {
  return parent.fields().at(key).list_value().values(0).struct_value();
}

using JsonOutputTest = IntegrationTest;

TEST_F(JsonOutputTest, ReadCommandsKeepTheirShapes) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  CliResult submitted = Cli(
      {"submit", "--wait",
       WriteDag("g.json", Graph("shapes", {ShellTask("a", "echo out")}))});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string id(absl::StripAsciiWhitespace(submitted.out));

  CliResult status = Cli({"status", id, "--attempts", "--output", "json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  Struct graph = ParseObject(status.out);
  EXPECT_THAT(Keys(graph), UnorderedElementsAre("summary", "tasks"));
  const Struct& summary = Object(graph, "summary");
  EXPECT_THAT(Keys(summary),
              UnorderedElementsAre("graph_id", "name", "state", "counts",
                                   "created_at_ms", "finished_at_ms",
                                   "owner"));
  EXPECT_EQ(summary.fields().at("state").string_value(),
            "GRAPH_STATE_SUCCEEDED");
  EXPECT_THAT(Keys(Object(summary, "counts")),
              UnorderedElementsAre("pending", "ready", "running", "succeeded",
                                   "failed", "skipped", "cancelled", "total"));
  const Struct& task = First(graph, "tasks");
  EXPECT_THAT(Keys(task), UnorderedElementsAre("spec", "state",
                                               "skipped_because", "attempts"));
  EXPECT_EQ(task.fields().at("state").string_value(), "TASK_STATE_SUCCEEDED");
  EXPECT_THAT(Keys(First(task, "attempts")),
              IsSupersetOf({"attempt_id", "number", "worker", "state",
                            "started_at_ms", "finished_at_ms", "exit_code",
                            "signal", "timed_out", "error"}));

  CliResult list = Cli({"list", "--output", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  Struct graphs = ParseObject(list.out);
  EXPECT_THAT(Keys(graphs), UnorderedElementsAre("graphs"));
  EXPECT_EQ(Keys(First(graphs, "graphs")), Keys(summary));

  CliResult workers = Cli({"workers", "--output", "json"});
  ASSERT_EQ(workers.exit_code, 0) << workers.err;
  Struct all = ParseObject(workers.out);
  EXPECT_THAT(Keys(all), UnorderedElementsAre("workers"));
  EXPECT_THAT(
      Keys(First(all, "workers")),
      IsSupersetOf({"name", "slots", "running", "labels", "connected_at_ms",
                    "session_id", "connected", "draining", "last_seen_ms",
                    "prefetch", "serve_labels"}));

  // watch: one EventBatch per line.
  CliResult watch = Cli({"watch", id, "--output", "json"});
  ASSERT_EQ(watch.exit_code, 0) << watch.err;
  for (absl::string_view line :
       absl::StrSplit(watch.out, '\n', absl::SkipEmpty())) {
    Struct batch = ParseObject(line);
    EXPECT_THAT(Keys(batch),
                UnorderedElementsAre("events", "cursor", "compacted"));
    EXPECT_THAT(Keys(First(batch, "events")),
                IsSupersetOf({"sequence", "graph_id", "task_id", "task_state",
                              "attempt_id", "worker", "exit_code", "counts",
                              "graph_state", "graph_finished", "time_ms",
                              "graph_name", "attempt_state", "attempt_number",
                              "error"}));
  }

  CliResult logs = Cli({"logs", id, "a", "--output", "json"});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  Struct log = ParseObject(logs.out);
  EXPECT_THAT(Keys(log), IsSupersetOf({"graph_id", "task_id", "attempt",
                                       "state", "worker", "finished",
                                       "stdout", "stderr"}));
  EXPECT_EQ(log.fields().at("stdout").string_value(), "out\n");

  CliResult dag = Cli({"graph", id, "--format", "json"});
  ASSERT_EQ(dag.exit_code, 0) << dag.err;
  EXPECT_THAT(Keys(ParseObject(dag.out)),
              UnorderedElementsAre("name", "tasks", "edges"));
}

}  // namespace
}  // namespace vitte::task::integration
