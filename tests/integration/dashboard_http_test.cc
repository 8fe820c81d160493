// The dashboard's HTTP side on a real vitte-taskd: its JSON API parses
// back into the messages it promises (so the shapes are the proto
// contract), errors are JSON with a status, and the page's files are
// served with their content types. The page itself is tested in a browser
// by tests/dashboard/.
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/http_get.h"
#include "vitte/task/v1/dashboard.pb.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

class DashboardHttpTest : public IntegrationTest {
 protected:
  // GETs `path`, expects `status` and a JSON answer, and parses it into
  // `message` (which fails on any field the message does not have).
  void GetJson(const std::string& path, int status,
               google::protobuf::Message& message) {
    absl::StatusOr<HttpReply> reply = HttpGet(http_port(), path);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, status) << path << ": " << reply->body;
    EXPECT_THAT(reply->content_type, StartsWith("application/json")) << path;
    absl::Status parsed = ParseJson(reply->body, message);
    ASSERT_TRUE(parsed.ok()) << path << ": " << parsed;
  }

  // A graph "site" (build, then hello) run to its end; returns its id.
  std::string RunGraph() {
    std::string dag = WriteDag(
        "site.json",
        Graph("site", {ShellTask("build", "true"),
                       ShellTask("hello", "echo hello-from-task", {"build"})}));
    std::string id = Submit(dag);
    v1::Graph g = PollGraph(id, absl::Seconds(20), [](const v1::Graph& g) {
      return g.summary().state() == v1::GRAPH_STATE_SUCCEEDED;
    });
    EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED);
    return id;
  }

  // One long poll on graph `id` after `after`; the HTTP client waits a
  // little longer than the server may.
  void PollEvents(const std::string& id, uint64_t after, int wait_ms,
                  v1::EventBatch& batch) {
    const std::string path = absl::StrCat("/api/graphs/", id, "/events?after=",
                                          after, "&wait_ms=", wait_ms);
    absl::StatusOr<HttpReply> reply =
        HttpGet(http_port(), path, absl::Milliseconds(wait_ms) + absl::Seconds(10));
    ASSERT_TRUE(reply.ok()) << path << ": " << reply.status();
    ASSERT_EQ(reply->status, 200) << path << ": " << reply->body;
    absl::Status parsed = ParseJson(reply->body, batch);
    ASSERT_TRUE(parsed.ok()) << path << ": " << parsed;
  }
};

// "task:STATE" for each task event of `batch`, "GRAPH:STATE" for the others.
std::vector<std::string> Describe(const v1::EventBatch& batch) {
  std::vector<std::string> out;
  for (const v1::GraphEvent& e : batch.events()) {
    out.push_back(e.task_id().empty()
                      ? "GRAPH:" + v1::GraphState_Name(e.graph_state())
                      : e.task_id() + ":" + v1::TaskState_Name(e.task_state()));
  }
  return out;
}

TEST_F(DashboardHttpTest, ApiAnswersWithTheProtoMessages) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}}));
  const std::string id = RunGraph();

  v1::ListGraphsResponse list;
  ASSERT_NO_FATAL_FAILURE(GetJson("/api/graphs", 200, list));
  ASSERT_EQ(list.graphs_size(), 1);
  EXPECT_EQ(list.graphs(0).graph_id(), id);
  EXPECT_EQ(list.graphs(0).counts().succeeded(), 2);

  v1::Graph graph;
  ASSERT_NO_FATAL_FAILURE(GetJson("/api/graphs/" + id, 200, graph));
  ASSERT_EQ(graph.tasks_size(), 2);
  EXPECT_EQ(graph.tasks(1).spec().id(), "hello");
  EXPECT_THAT(graph.tasks(1).spec().deps(), ElementsAre("build"));

  v1::GraphStates states;
  ASSERT_NO_FATAL_FAILURE(GetJson("/api/graphs/" + id + "?fields=states", 200, states));
  EXPECT_EQ(states.states(), "44");
  EXPECT_EQ(states.summary().state(), v1::GRAPH_STATE_SUCCEEDED);

  v1::Task task;
  ASSERT_NO_FATAL_FAILURE(GetJson("/api/graphs/" + id + "/tasks/hello", 200, task));
  ASSERT_EQ(task.attempts_size(), 1);
  EXPECT_EQ(task.attempts(0).stdout_tail(), "hello-from-task\n");
  EXPECT_EQ(task.attempts(0).worker(), "w1");

  v1::GraphEstimate estimate;
  ASSERT_NO_FATAL_FAILURE(GetJson("/api/graphs/" + id + "/estimate", 200, estimate));
  EXPECT_EQ(estimate.eta_ms(), 0);  // finished
  EXPECT_EQ(estimate.tasks(), 2);
  EXPECT_EQ(estimate.slots(), 2);

  v1::ListWorkersResponse workers;
  ASSERT_NO_FATAL_FAILURE(GetJson("/api/workers", 200, workers));
  ASSERT_EQ(workers.workers_size(), 1);
  EXPECT_EQ(workers.workers(0).name(), "w1");
}

TEST_F(DashboardHttpTest, EventsLongPollWaitsThenResumesWithoutMissingAnything) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  // A chain whose tasks take a while: each change comes while the page's
  // next poll waits for it.
  std::string dag = WriteDag(
      "chain.json",
      Graph("chain", {ShellTask("a", "sleep 0.3"), ShellTask("b", "sleep 0.3", {"a"}),
                      ShellTask("c", "echo done", {"b"})}));
  const std::string id = Submit(dag);

  // After 0: the state now of every task, at once.
  v1::EventBatch snapshot;
  const absl::Time start = absl::Now();
  ASSERT_NO_FATAL_FAILURE(PollEvents(id, 0, 20'000, snapshot));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(snapshot.compacted());
  EXPECT_GT(snapshot.cursor(), 0u);
  std::map<std::string, std::string> states;  // task -> its last state
  for (const v1::GraphEvent& e : snapshot.events()) {
    if (!e.task_id().empty()) states[e.task_id()] = v1::TaskState_Name(e.task_state());
  }
  EXPECT_EQ(states.size(), 3u);

  // Then polls chained by their cursors until the end. Each answers as
  // soon as something changed (the graph takes about a second; a poll
  // that waited out its 20 s would fail the time bound).
  std::vector<v1::GraphEvent> live;
  uint64_t cursor = snapshot.cursor();
  bool finished = false;
  for (int polls = 0; polls < 50 && !finished; ++polls) {
    v1::EventBatch batch;
    ASSERT_NO_FATAL_FAILURE(PollEvents(id, cursor, 20'000, batch));
    ASSERT_GT(batch.events_size(), 0) << "a poll answered without a change";
    EXPECT_FALSE(batch.compacted());
    for (const v1::GraphEvent& e : batch.events()) {
      EXPECT_GT(e.sequence(), cursor);
      live.push_back(e);
      finished = finished || e.graph_finished();
    }
    cursor = batch.cursor();
  }
  ASSERT_TRUE(finished);
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));

  // Nothing missed: the chained polls got exactly what one poll from the
  // snapshot's cursor gets now, event for event.
  v1::EventBatch all;
  ASSERT_NO_FATAL_FAILURE(PollEvents(id, snapshot.cursor(), 0, all));
  EXPECT_FALSE(all.compacted());
  ASSERT_EQ(all.events_size(), static_cast<int>(live.size()));
  for (size_t i = 0; i < live.size(); ++i) {
    EXPECT_EQ(all.events(i).sequence(), live[i].sequence()) << i;
    EXPECT_EQ(all.events(i).task_id(), live[i].task_id()) << i;
    EXPECT_EQ(all.events(i).task_state(), live[i].task_state()) << i;
  }
  for (const v1::GraphEvent& e : live) {
    if (!e.task_id().empty()) states[e.task_id()] = v1::TaskState_Name(e.task_state());
  }
  EXPECT_THAT(states, Each(::testing::Pair(::testing::_, "TASK_STATE_SUCCEEDED")));
  EXPECT_EQ(live.back().counts().succeeded(), 3);
}

TEST_F(DashboardHttpTest, EventsLongPollEndsAfterItsWaitAndSurvivesARestart) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());  // no worker: nothing moves
  std::string dag = WriteDag(
      "pair.json", Graph("pair", {ShellTask("a", "true"), ShellTask("b", "true", {"a"})}));
  const std::string id = Submit(dag);
  v1::EventBatch snapshot;
  ASSERT_NO_FATAL_FAILURE(PollEvents(id, 0, 0, snapshot));

  // Nothing happens: the poll answers once its wait passed, without
  // events, with the same cursor.
  const absl::Time start = absl::Now();
  v1::EventBatch idle;
  ASSERT_NO_FATAL_FAILURE(PollEvents(id, snapshot.cursor(), 300, idle));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  EXPECT_THAT(idle.events(), IsEmpty());
  EXPECT_EQ(idle.cursor(), snapshot.cursor());

  // A change while a poll waits (or before it starts: either way it
  // answers with the change, long before its wait).
  v1::EventBatch changed;
  std::thread poller([&] { PollEvents(id, snapshot.cursor(), 20'000, changed); });
  CliResult cancel = Cli({"cancel", id, "b"});
  poller.join();
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(Describe(changed), ::testing::Contains("b:TASK_STATE_CANCELLED"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));

  // The graph changes, then the daemon restarts, before the page asks
  // again: the new daemon does not hold those events, so the old cursor
  // gets the state now (compacted), nothing lost.
  CliResult cancel_all = Cli({"cancel", id});
  EXPECT_EQ(cancel_all.exit_code, 0) << cancel_all.err;
  ASSERT_NO_FATAL_FAILURE(RestartCoordinator());
  v1::EventBatch resumed;
  ASSERT_NO_FATAL_FAILURE(PollEvents(id, changed.cursor(), 20'000, resumed));
  EXPECT_TRUE(resumed.compacted());
  EXPECT_THAT(Describe(resumed), ::testing::Contains("a:TASK_STATE_CANCELLED"));
  ASSERT_GT(resumed.events_size(), 0);
  EXPECT_TRUE(resumed.events(resumed.events_size() - 1).graph_finished());
  EXPECT_GT(resumed.cursor(), changed.cursor());
}

TEST_F(DashboardHttpTest, LogsGiveAnAttemptsOutputFromACursor) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}}));
  const std::string id = RunGraph();

  v1::GetLogsResponse logs;
  ASSERT_NO_FATAL_FAILURE(
      GetJson("/api/graphs/" + id + "/tasks/hello/logs", 200, logs));
  EXPECT_EQ(logs.stdout_log().data(), "hello-from-task\n");  // base64 in JSON
  EXPECT_EQ(logs.stderr_log().data(), "");
  EXPECT_EQ(logs.attempt(), 1);
  EXPECT_EQ(logs.worker(), "w1");
  EXPECT_TRUE(logs.finished());
  EXPECT_FALSE(logs.next_cursor().empty());

  // From its cursor: nothing more.
  v1::GetLogsResponse rest;
  ASSERT_NO_FATAL_FAILURE(GetJson("/api/graphs/" + id + "/tasks/hello/logs?attempt=1&cursor=" +
                                      logs.next_cursor(),
                                  200, rest));
  EXPECT_EQ(rest.stdout_log().data(), "");
  EXPECT_TRUE(rest.finished());

  // The task itself is still there without "/logs".
  v1::Task task;
  ASSERT_NO_FATAL_FAILURE(GetJson("/api/graphs/" + id + "/tasks/hello", 200, task));
  EXPECT_EQ(task.spec().id(), "hello");
}

TEST_F(DashboardHttpTest, ErrorsAreJsonWithAMatchingStatus) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  struct Case {
    std::string path;
    int status;
    std::string code;
  };
  for (const Case& c : {Case{"/api/graphs/999", 404, "NOT_FOUND"},
                        Case{"/api/graphs/x/tasks/y", 404, "NOT_FOUND"},
                        Case{"/api/graphs?limit=abc", 400, "INVALID_ARGUMENT"},
                        Case{"/api/graphs?limit=0", 400, "INVALID_ARGUMENT"},
                        Case{"/api/graphs/999/events?wait_ms=0", 404, "NOT_FOUND"},
                        Case{"/api/graphs/1/events?after=abc", 400, "INVALID_ARGUMENT"},
                        Case{"/api/graphs/1/events?wait_ms=-1", 400, "INVALID_ARGUMENT"},
                        Case{"/api/events?after=99999", 400, "INVALID_ARGUMENT"},
                        Case{"/api/graphs/999/tasks/y/logs", 404, "NOT_FOUND"},
                        Case{"/api/graphs/1/tasks/y/logs?attempt=x", 400, "INVALID_ARGUMENT"},
                        Case{"/api/nothing/here", 404, "NOT_FOUND"}}) {
    absl::StatusOr<HttpReply> reply = HttpGet(http_port(), c.path);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, c.status) << c.path;
    EXPECT_THAT(reply->content_type, StartsWith("application/json")) << c.path;
    EXPECT_THAT(reply->body, HasSubstr("\"code\": \"" + c.code + "\"")) << c.path;
    EXPECT_THAT(reply->body, HasSubstr("\"error\": \"")) << c.path;
  }
}

TEST_F(DashboardHttpTest, ServesThePageAndItsFiles) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  absl::StatusOr<HttpReply> index = HttpGet(http_port(), "/");
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->status, 200);
  EXPECT_THAT(index->content_type, StartsWith("text/html"));
  EXPECT_THAT(index->body, HasSubstr("/static/app.js"));
  // Nothing from another host: the page must work without internet.
  EXPECT_FALSE(absl::StrContains(index->body, "http://"));
  EXPECT_FALSE(absl::StrContains(index->body, "https://"));

  for (const auto& [file, type] :
       {std::pair<std::string, std::string>{"app.js", "text/javascript"},
        {"graph_page.js", "text/javascript"},
        {"style.css", "text/css"}}) {
    absl::StatusOr<HttpReply> reply = HttpGet(http_port(), "/static/" + file);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, 200) << file;
    EXPECT_THAT(reply->content_type, StartsWith(type)) << file;
  }
  absl::StatusOr<HttpReply> missing = HttpGet(http_port(), "/static/nope.js");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);
}

}  // namespace
}  // namespace vitte::task::integration
