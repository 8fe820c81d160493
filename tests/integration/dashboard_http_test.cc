// The dashboard's HTTP side on a real vitte-taskd: its JSON API parses
// back into the messages it promises (so the shapes are the proto
// contract), errors are JSON with a status, and the page's files are
// served with their content types. The page itself is tested in a browser
// by tests/dashboard/.
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/http_get.h"
#include "vitte/task/v1/dashboard.pb.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
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
};

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
