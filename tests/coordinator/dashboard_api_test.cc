// The dashboard's JSON API below HTTP: DashboardApi over a real
// Coordinator and Store (FakeClock, fake workers), and the compiled-in
// page files.
#include "coordinator/dashboard_api.h"

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/dashboard.h"
#include "coordinator/proto_convert.h"
#include "coordinator/web_assets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_fixture.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::Failed;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::Succeeded;
using testing_util::Worker;

class DashboardApiTest : public testing_util::CoordinatorTest {
 protected:
  DashboardApi Api() { return DashboardApi(*coord_, clock_); }

  // Runs what `w` is given, one task at a time, each taking the time
  // `took` gives for its id (default 1 s), until nothing is left.
  void RunTimed(Worker& w, const std::map<std::string, int64_t>& took) {
    for (int guard = 0; guard < 100; ++guard) {
      std::vector<Assignment> got = w.conn->Take();
      if (got.empty()) return;
      for (const Assignment& a : got) {
        auto it = took.find(a.task_id);
        clock_.Advance(absl::Milliseconds(it == took.end() ? 1000 : it->second));
        EXPECT_EQ(coord_->Report(w.session, {Succeeded(a, "out of " + a.task_id)}), 0);
      }
    }
  }

  static GraphSpec Chain(const std::string& name) {
    return MakeGraph(name, {MakeTask("a"), MakeTask("b", {"a"}),
                            MakeTask("c", {"b"})});
  }
};

TEST_F(DashboardApiTest, GraphAndStatesFollowTheRun) {
  GraphId id = Submit(Chain("build"));
  Worker w = Connect("w1", 1);
  std::vector<Assignment> first = w.conn->Take();
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(coord_->Report(w.session, {Succeeded(first[0], "hello\n")}), 0);

  const std::string gid = absl::StrCat(id);
  ASSERT_OK_AND_ASSIGN(v1::GraphStates states, Api().GetGraphStates(gid));
  // a succeeded, b went to the free slot, c waits for it.
  EXPECT_EQ(states.states(), "431");
  EXPECT_EQ(states.summary().graph_id(), gid);
  EXPECT_EQ(states.summary().name(), "build");
  EXPECT_EQ(states.summary().counts().succeeded(), 1);
  EXPECT_EQ(states.summary().counts().total(), 3);

  ASSERT_OK_AND_ASSIGN(v1::Graph graph, Api().GetGraph(gid));
  ASSERT_EQ(graph.tasks_size(), 3);
  EXPECT_EQ(graph.tasks(1).spec().id(), "b");
  EXPECT_THAT(graph.tasks(1).spec().deps(), ElementsAre("a"));
  EXPECT_EQ(graph.tasks(0).state(), v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(graph.tasks(0).attempts_size(), 1);
  EXPECT_EQ(graph.tasks(0).attempts(0).stdout_tail(), "hello\n");
  EXPECT_EQ(graph.tasks(1).state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(graph.tasks(2).attempts_size(), 0);

  ASSERT_OK_AND_ASSIGN(v1::ListGraphsResponse list, Api().ListGraphs(10));
  ASSERT_EQ(list.graphs_size(), 1);
  EXPECT_EQ(list.graphs(0).graph_id(), gid);

  v1::ListWorkersResponse workers = Api().ListWorkers();
  ASSERT_EQ(workers.workers_size(), 1);
  EXPECT_EQ(workers.workers(0).name(), "w1");
  EXPECT_EQ(workers.workers(0).running(), 1);
}

TEST_F(DashboardApiTest, TaskHasEveryAttemptWithItsOutput) {
  GraphSpec spec = MakeGraph("flaky", {MakeTask("t")});
  spec.tasks[0].max_attempts = 2;
  GraphId id = Submit(spec);
  Worker w = Connect("w1", 1);
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(coord_->Report(w.session, {Failed(got[0], 3, "boom\n")}), 0);
  got = w.conn->Take();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(coord_->Report(w.session, {Succeeded(got[0], "fine\n")}), 0);

  ASSERT_OK_AND_ASSIGN(v1::Task task, Api().GetTask(absl::StrCat(id), "t"));
  EXPECT_EQ(task.spec().id(), "t");
  EXPECT_EQ(task.state(), v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(task.attempts_size(), 2);
  EXPECT_EQ(task.attempts(0).number(), 1);
  EXPECT_EQ(task.attempts(0).exit_code(), 3);
  EXPECT_EQ(task.attempts(0).stderr_tail(), "boom\n");
  EXPECT_EQ(task.attempts(1).worker(), "w1");
  EXPECT_EQ(task.attempts(1).stdout_tail(), "fine\n");
}

TEST_F(DashboardApiTest, EventsAreBatchesResumableFromTheirCursor) {
  GraphId id = Submit(Chain("build"));
  Worker w = Connect("w1", 1);
  DashboardApi api = Api();
  const std::string graph = FormatGraphId(id);
  ASSERT_OK_AND_ASSIGN(v1::EventBatch snapshot,
                       api.Events(graph, 0, absl::ZeroDuration()));
  EXPECT_TRUE(snapshot.compacted());
  ASSERT_EQ(snapshot.events_size(), 4);  // the graph, then a, b, c
  EXPECT_EQ(snapshot.events(1).task_id(), "a");
  EXPECT_EQ(snapshot.events(1).task_state(), v1::TASK_STATE_RUNNING);
  EXPECT_EQ(snapshot.events(3).counts().total(), 3);

  std::vector<Assignment> got = w.conn->Take();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(coord_->Report(w.session, {Succeeded(got[0], "hello\n")}), 0);
  ASSERT_OK_AND_ASSIGN(v1::EventBatch next,
                       api.Events(graph, snapshot.cursor(), absl::Seconds(20)));
  EXPECT_FALSE(next.compacted());
  ASSERT_GE(next.events_size(), 1);
  EXPECT_EQ(next.events(0).task_id(), "a");
  EXPECT_EQ(next.events(0).task_state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(next.events(0).counts().succeeded(), 1);
  EXPECT_EQ(next.cursor(), next.events(next.events_size() - 1).sequence());

  // Every graph: from now on, so nothing yet.
  ASSERT_OK_AND_ASSIGN(v1::EventBatch all, api.Events("", 0, absl::ZeroDuration()));
  EXPECT_EQ(all.events_size(), 0);
  EXPECT_EQ(all.cursor(), next.cursor());
  EXPECT_EQ(api.Events("nope", 0, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(DashboardApiTest, LogsOfAnAttempt) {
  GraphId id = Submit(Chain("build"));
  Worker w = Connect("w1", 1);
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(coord_->Report(w.session, {Succeeded(got[0], "hello\n")}), 0);
  DashboardApi api = Api();
  const std::string graph = FormatGraphId(id);
  ASSERT_OK_AND_ASSIGN(v1::GetLogsResponse logs, api.GetLogs(graph, "a", 0, ""));
  EXPECT_EQ(logs.attempt(), 1);
  EXPECT_EQ(logs.stdout_log().data(), "hello\n");
  EXPECT_TRUE(logs.finished());
  EXPECT_EQ(api.GetLogs(graph, "zz", 0, "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(api.GetLogs(graph, "c", 0, "").status().code(),
            absl::StatusCode::kFailedPrecondition);  // not started
}

TEST_F(DashboardApiTest, SkippedTaskNamesTheTaskThatFailed) {
  GraphId id = Submit(Chain("build"));
  Worker w = Connect("w1", 1);
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(coord_->Report(w.session, {Failed(got[0])}), 0);

  ASSERT_OK_AND_ASSIGN(v1::Task c, Api().GetTask(absl::StrCat(id), "c"));
  EXPECT_EQ(c.state(), v1::TASK_STATE_SKIPPED);
  EXPECT_EQ(c.skipped_because(), "a");
  ASSERT_OK_AND_ASSIGN(v1::GraphStates states,
                       Api().GetGraphStates(absl::StrCat(id)));
  EXPECT_EQ(states.states(), "566");
}

TEST_F(DashboardApiTest, UnknownThingsAreNotFound) {
  GraphId id = Submit(Chain("build"));
  for (const char* bad : {"999", "abc", "-1", ""}) {
    EXPECT_EQ(Api().GetGraph(bad).status().code(), absl::StatusCode::kNotFound)
        << bad;
    EXPECT_EQ(Api().GetGraphStates(bad).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(Api().Estimate(bad).status().code(), absl::StatusCode::kNotFound);
  }
  absl::StatusOr<v1::Task> task = Api().GetTask(absl::StrCat(id), "nope");
  EXPECT_EQ(task.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(task.status().message(), HasSubstr("\"nope\""));
  EXPECT_EQ(Api().ListGraphs(0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Api().ListGraphs(1001).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DashboardApiTest, EstimateUsesEarlierRunsOfTheSameGraph) {
  Worker w = Connect("w1", 2);
  GraphId earlier = Submit(Chain("build"));
  RunTimed(w, {{"a", 2000}, {"b", 3000}, {"c", 1000}});
  ASSERT_EQ(StateOf(earlier, "c"), TaskState::kSucceeded);
  // A graph of another name is no history of this one.
  Submit(MakeGraph("other", {MakeTask("a")}));
  RunTimed(w, {{"a", 60000}});

  GraphId id = Submit(Chain("build"));
  const std::string gid = absl::StrCat(id);
  // `a` was handed to the worker at once; it has run for 0.5 s.
  clock_.Advance(absl::Milliseconds(500));
  ASSERT_OK_AND_ASSIGN(v1::GraphEstimate e, Api().Estimate(gid));
  EXPECT_EQ(e.graph_id(), gid);
  EXPECT_EQ(e.tasks(), 3);
  EXPECT_EQ(e.tasks_with_history(), 3);
  EXPECT_THAT(e.critical_path(), ElementsAre("a", "b", "c"));
  EXPECT_EQ(e.critical_path_ms(), 1500 + 3000 + 1000);
  EXPECT_EQ(e.slots(), 2);
  EXPECT_EQ(e.now_ms(), clock_.NowMs());
  EXPECT_EQ(e.eta_ms(), clock_.NowMs() + 5500);

  RunTimed(w, {});
  ASSERT_OK_AND_ASSIGN(v1::GraphEstimate done, Api().Estimate(gid));
  EXPECT_EQ(done.eta_ms(), 0);
  EXPECT_EQ(done.critical_path_size(), 0);
}

TEST_F(DashboardApiTest, EstimateWithoutHistoryUsesTheDefault) {
  GraphId id = Submit(Chain("fresh"));
  ASSERT_OK_AND_ASSIGN(v1::GraphEstimate e, Api().Estimate(absl::StrCat(id)));
  EXPECT_EQ(e.tasks_with_history(), 0);
  EXPECT_EQ(e.default_task_ms(), 10000);
  EXPECT_EQ(e.critical_path_ms(), 30000);
  EXPECT_EQ(e.slots(), 0);  // no worker
}

TEST_F(DashboardApiTest, EstimateCountsOnlyWorkersThatMayRunATask) {
  Worker plain = Connect("plain", 2);
  WorkerRegistration reg;
  reg.name = "signer";
  reg.slots = 4;
  reg.serve_labels = {{"pool", "release"}};
  Worker signer = Open(reg);
  GraphId unlabelled = Submit(MakeGraph("u", {MakeTask("a")}));
  ASSERT_OK_AND_ASSIGN(v1::GraphEstimate u,
                       Api().Estimate(absl::StrCat(unlabelled)));
  EXPECT_EQ(u.slots(), 2);  // the signer never takes an unlabelled task

  TaskSpec release = MakeTask("sign");
  release.labels = {{"pool", "release"}};
  GraphId signing = Submit(MakeGraph("s", {release}));
  ASSERT_OK_AND_ASSIGN(v1::GraphEstimate s,
                       Api().Estimate(absl::StrCat(signing)));
  EXPECT_EQ(s.slots(), 4);  // the plain worker lacks pool=release

  TaskSpec nowhere = MakeTask("nowhere");
  nowhere.labels = {{"os", "plan9"}};
  GraphId stuck = Submit(MakeGraph("n", {nowhere}));
  ASSERT_OK_AND_ASSIGN(v1::GraphEstimate n,
                       Api().Estimate(absl::StrCat(stuck)));
  EXPECT_EQ(n.slots(), 0);  // shown like "no worker"
}

// --- HTTP helpers and the compiled-in files ---------------------------------

TEST(DashboardHttpTest, StatusCodesAndContentTypes) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDataLoss), 500);
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("style.css"), "text/css; charset=utf-8");
}

const WebAsset* FindAsset(absl::string_view name) {
  for (const WebAsset& a : WebAssets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

TEST(DashboardHttpTest, EveryFileThePageLoadsIsCompiledIn) {
  const WebAsset* index = FindAsset("index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_THAT(std::string(index->content), HasSubstr("/static/app.js"));
  // Files named by index.html (/static/X) and by the scripts' imports
  // (from './X'): a file missing from the CMake list would break the page
  // only in a browser.
  std::set<std::string> wanted;
  std::regex static_ref("/static/([\\w.-]+)");
  std::regex import_ref("from '\\./([\\w.-]+)'");
  for (const WebAsset& a : WebAssets()) {
    EXPECT_FALSE(a.content.empty()) << a.name;
    std::string text(a.content);
    for (const std::regex& re : {static_ref, import_ref}) {
      for (auto it = std::sregex_iterator(text.begin(), text.end(), re);
           it != std::sregex_iterator(); ++it) {
        wanted.insert((*it)[1].str());
      }
    }
  }
  EXPECT_GE(wanted.size(), 5u);
  for (const std::string& name : wanted) {
    EXPECT_NE(FindAsset(name), nullptr) << name << " is not compiled in";
  }
}

}  // namespace
}  // namespace vitte::task
