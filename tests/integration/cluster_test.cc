// End-to-end tests of a coordinator daemon with real workers, driven through
// the vitte-task command line.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class ClusterTest : public IntegrationTest {};

// A task that appends "start ID" to the file `order`, stays a while (so
// that a task started too early would write between the two lines), then
// appends "end ID".
v1::TaskSpec Recorded(const std::string& id,
                      const std::vector<std::string>& deps,
                      const std::string& linger = "0.2") {
  return ShellTask(id,
                   absl::StrCat("echo start ", id, " >> order; sleep ", linger,
                                "; echo end ", id, " >> order"),
                   deps);
}

// Position of `line` in `lines`, or -1.
int IndexOf(const std::vector<std::string>& lines, const std::string& line) {
  auto it = std::find(lines.begin(), lines.end(), line);
  return it == lines.end() ? -1 : static_cast<int>(it - lines.begin());
}

// Fails unless every task of `graph` started (per its attempts' times) after
// every one of its dependencies finished.
void ExpectStartsAfterDeps(const v1::Graph& graph) {
  std::map<std::string, const v1::Task*> by_id;
  for (const v1::Task& t : graph.tasks()) by_id[t.spec().id()] = &t;
  for (const v1::Task& t : graph.tasks()) {
    ASSERT_GT(t.attempts_size(), 0) << t.spec().id();
    for (const std::string& dep : t.spec().deps()) {
      ASSERT_TRUE(by_id.count(dep)) << dep;
      EXPECT_GE(t.attempts(0).started_at_ms(),
                LastAttempt(*by_id[dep]).finished_at_ms())
          << t.spec().id() << " started before its dependency " << dep
          << " finished";
    }
  }
}

TEST_F(ClusterTest, OriginExampleSucceeds) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}, {"w2", 2}}));

  CliResult r = Cli({"submit", ExamplesDir() + "/origin.json", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = FirstLine(r.out);
  ASSERT_FALSE(id.empty());
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(
                         "graph ", id, " succeeded: 2/2 tasks succeeded")));

  absl::StatusOr<v1::Graph> g = GetGraph(id);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->summary().graph_id(), id);
  EXPECT_EQ(g->summary().name(), "origin-example");
  EXPECT_EQ(g->summary().state(), v1::GRAPH_STATE_SUCCEEDED);
  EXPECT_EQ(g->summary().counts().succeeded(), 2);
  EXPECT_GT(g->summary().finished_at_ms(), 0);
  ASSERT_EQ(g->tasks_size(), 2);
  const v1::Task* analyse = FindTask(*g, "analyse");
  const v1::Task* build = FindTask(*g, "build");
  ASSERT_NE(analyse, nullptr);
  ASSERT_NE(build, nullptr);
  EXPECT_EQ(analyse->state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(build->state(), v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(analyse->attempts_size(), 1);
  ASSERT_EQ(build->attempts_size(), 1);
  EXPECT_EQ(analyse->attempts(0).stdout_tail(), "Analyse du module...\n");
  EXPECT_EQ(build->attempts(0).stdout_tail(), "Compilation du module...\n");
  EXPECT_THAT(build->attempts(0).worker(),
              ::testing::AnyOf(::testing::Eq("w1"), ::testing::Eq("w2")));
  EXPECT_GE(build->attempts(0).started_at_ms(),
            analyse->attempts(0).finished_at_ms());
}

// The shape of the origin example, with tasks that leave evidence of their
// order: build must start after analyse ended, even with a free slot on
// another worker.
TEST_F(ClusterTest, OriginShapedChainRunsInDependencyOrder) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}, {"w2", 2}}));
  std::string dag = WriteDag(
      "origin.json", Graph("origin", {Recorded("analyse", {}, "0.3"),
                                      Recorded("build", {"analyse"}, "0")}));

  CliResult r = Cli({"submit", dag, "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  EXPECT_THAT(
      ReadLines(Path("order")),
      ElementsAre("start analyse", "end analyse", "start build", "end build"));
  absl::StatusOr<v1::Graph> g = GetGraph(FirstLine(r.out));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->summary().state(), v1::GRAPH_STATE_SUCCEEDED);
  ExpectStartsAfterDeps(*g);
}

TEST_F(ClusterTest, DiamondRunsJoinAfterBothBranches) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}, {"w2", 2}}));
  std::string dag =
      WriteDag("diamond.json",
               Graph("diamond",
                     {Recorded("a", {}), Recorded("b", {"a"}, "0.3"),
                      Recorded("c", {"a"}, "0.1"), Recorded("d", {"b", "c"})}));

  CliResult r = Cli({"submit", dag, "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  std::vector<std::string> order = ReadLines(Path("order"));
  ASSERT_EQ(order.size(), 8u) << absl::StrJoin(order, "\n");
  for (const char* id : {"a", "b", "c", "d"}) {
    EXPECT_LT(IndexOf(order, absl::StrCat("start ", id)),
              IndexOf(order, absl::StrCat("end ", id)))
        << absl::StrJoin(order, "\n");
  }
  for (const char* branch : {"b", "c"}) {
    EXPECT_GT(IndexOf(order, absl::StrCat("start ", branch)),
              IndexOf(order, "end a"))
        << absl::StrJoin(order, "\n");
    EXPECT_GT(IndexOf(order, "start d"),
              IndexOf(order, absl::StrCat("end ", branch)))
        << absl::StrJoin(order, "\n");
  }
  absl::StatusOr<v1::Graph> g = GetGraph(FirstLine(r.out));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->summary().state(), v1::GRAPH_STATE_SUCCEEDED);
  EXPECT_EQ(g->summary().counts().succeeded(), 4);
  ExpectStartsAfterDeps(*g);
}

// 10 layers of 20 tasks. Each task writes a file named after itself with
// 1 + the sum of the values in its dependencies' files; a task that ran
// before one of its dependencies finds a file missing and fails (set -e),
// so any ordering mistake fails the graph or leaves a wrong value.
TEST_F(ClusterTest, LayeredDagOf200TasksOnTwoWorkers) {
  constexpr int kLayers = 10;
  constexpr int kWidth = 20;
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 3}, {"w2", 3}}));

  auto name = [](int layer, int j) { return absl::StrCat("t", layer, "_", j); };
  std::map<std::string, int64_t> expected;
  std::vector<v1::TaskSpec> tasks;
  for (int layer = 0; layer < kLayers; ++layer) {
    for (int j = 0; j < kWidth; ++j) {
      const std::string id = name(layer, j);
      std::vector<std::string> deps;
      if (layer > 0) {
        deps.push_back(name(layer - 1, j));
        deps.push_back(name(layer - 1, (j + 1) % kWidth));
        if (j % 2 == 1) deps.push_back(name(layer - 1, (j + 7) % kWidth));
      }
      int64_t value = layer == 0 ? j + 1 : 1;
      std::string script = absl::StrCat("set -e; s=", value, ";");
      for (const std::string& dep : deps) {
        value += expected[dep];
        absl::StrAppend(&script, " v=$(cat out/", dep, "); s=$((s+v));");
      }
      absl::StrAppend(&script, " echo $s > out/", id, ".tmp; mv out/", id,
                      ".tmp out/", id);
      expected[id] = value;
      tasks.push_back(ShellTask(id, script, deps));
    }
  }
  // Submitted in reverse so that submission order does not hide a
  // scheduling mistake.
  std::reverse(tasks.begin(), tasks.end());
  ASSERT_TRUE(std::filesystem::create_directory(Path("out")));
  std::string dag = WriteDag("layers.json", Graph("layers", tasks));

  CliResult r = Cli({"submit", dag, "--wait"}, absl::Seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  for (const auto& [id, value] : expected) {
    EXPECT_EQ(ReadFileOrEmpty(Path("out/" + id)), absl::StrCat(value, "\n"))
        << id;
  }
  absl::StatusOr<v1::Graph> g = GetGraph(FirstLine(r.out));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->summary().state(), v1::GRAPH_STATE_SUCCEEDED);
  EXPECT_EQ(g->summary().counts().succeeded(), kLayers * kWidth);
  std::map<std::string, int> per_worker;
  for (const v1::Task& t : g->tasks()) {
    EXPECT_EQ(t.state(), v1::TASK_STATE_SUCCEEDED) << t.spec().id();
    EXPECT_EQ(t.attempts_size(), 1) << t.spec().id();
    if (t.attempts_size() > 0) ++per_worker[t.attempts(0).worker()];
  }
  EXPECT_GT(per_worker["w1"], 0);
  EXPECT_GT(per_worker["w2"], 0);
  EXPECT_EQ(per_worker["w1"] + per_worker["w2"], kLayers * kWidth);
  ExpectStartsAfterDeps(*g);
}

TEST_F(ClusterTest, FailedTaskSkipsItsDependentsOnly) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}, {"w2", 2}}));
  std::string dag = WriteDag(
      "fail.json",
      Graph("failing", {ShellTask("a", "touch ran-a"),
                        ShellTask("x", "echo oops-from-x >&2; exit 3", {"a"}),
                        ShellTask("y", "touch ran-y", {"x"}),
                        ShellTask("z", "touch ran-z", {"y", "a"}),
                        ShellTask("ind", "touch ran-ind"),
                        ShellTask("ind2", "touch ran-ind2", {"ind"})}));

  CliResult r = Cli({"submit", dag, "--wait"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string id = FirstLine(r.out);
  EXPECT_THAT(r.err, HasSubstr("task \"x\" failed: exit code 3"));
  EXPECT_THAT(r.err, HasSubstr("oops-from-x"));
  EXPECT_THAT(r.err, HasSubstr("2 task(s) skipped"));
  EXPECT_THAT(r.err, Not(HasSubstr("task \"y\" failed")));
  EXPECT_THAT(r.err, Not(HasSubstr("task \"ind\" failed")));

  absl::StatusOr<v1::Graph> g = GetGraph(id);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->summary().state(), v1::GRAPH_STATE_FAILED);
  EXPECT_EQ(g->summary().counts().succeeded(), 3);
  EXPECT_EQ(g->summary().counts().failed(), 1);
  EXPECT_EQ(g->summary().counts().skipped(), 2);
  std::map<std::string, v1::TaskState> want = {
      {"a", v1::TASK_STATE_SUCCEEDED},   {"x", v1::TASK_STATE_FAILED},
      {"y", v1::TASK_STATE_SKIPPED},     {"z", v1::TASK_STATE_SKIPPED},
      {"ind", v1::TASK_STATE_SUCCEEDED}, {"ind2", v1::TASK_STATE_SUCCEEDED}};
  for (const auto& [task_id, state] : want) {
    const v1::Task* t = FindTask(*g, task_id);
    ASSERT_NE(t, nullptr) << task_id;
    EXPECT_EQ(t->state(), state)
        << task_id << ": " << v1::TaskState_Name(t->state());
  }
  const v1::Task* x = FindTask(*g, "x");
  ASSERT_EQ(x->attempts_size(), 1);
  EXPECT_EQ(x->attempts(0).state(), v1::ATTEMPT_STATE_FAILED);
  EXPECT_EQ(x->attempts(0).exit_code(), 3);
  for (const std::string skipped : {"y", "z"}) {
    const v1::Task* t = FindTask(*g, skipped);
    EXPECT_EQ(t->skipped_because(), "x") << skipped;
    EXPECT_EQ(t->attempts_size(), 0) << skipped;
    EXPECT_FALSE(std::filesystem::exists(Path("ran-" + skipped))) << skipped;
  }
  EXPECT_TRUE(std::filesystem::exists(Path("ran-ind2")));

  // The same graph drawn, with its end states.
  CliResult dot = Cli({"graph", id});
  ASSERT_EQ(dot.exit_code, 0) << dot.err;
  EXPECT_THAT(dot.out, HasSubstr("digraph \"failing\""));
  EXPECT_THAT(dot.out, HasSubstr("\"x\" [fillcolor=\"#ff9b9b\", tooltip=\"failed\"]"));
  EXPECT_THAT(dot.out, HasSubstr("\"y\" [fillcolor=\"#d0d0d0\", tooltip=\"skipped\"]"));
  EXPECT_THAT(dot.out, HasSubstr("\"x\" -> \"y\";"));
  CliResult mermaid = Cli({"graph", id, "--format", "mermaid"});
  ASSERT_EQ(mermaid.exit_code, 0) << mermaid.err;
  EXPECT_THAT(mermaid.out, HasSubstr("t1 --> t2"));  // x --> y
  EXPECT_THAT(mermaid.out, HasSubstr("class t1 failed"));
  // And the file, not submitted: no states.
  CliResult file = Cli({"graph", dag, "--format", "json"});
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_THAT(file.out, HasSubstr("{\"id\": \"x\"}"));
  EXPECT_THAT(file.out, Not(HasSubstr("state")));
}

TEST_F(ClusterTest, ServeLabelWorkerRunsOnlyTheTasksItServes) {
  // The signer connects first and has more slots: a scheduler that ignored
  // serve-labels would hand it unlabelled tasks.
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_NO_FATAL_FAILURE(
      StartWorker("signer", 4, {}, {"--serve-label", "pool=release"}));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"signer"}));
  ASSERT_NO_FATAL_FAILURE(StartWorker("plain", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"signer", "plain"}));

  CliResult text = Cli({"workers"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("SERVES ONLY"));
  CliResult json = Cli({"workers", "--output", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  v1::ListWorkersResponse list;
  ASSERT_TRUE(ParseJson(json.out, list).ok()) << json.out;
  for (const v1::WorkerInfo& w : list.workers()) {
    if (w.name() != "signer") continue;
    // A serve-label is also a label.
    ASSERT_EQ(w.serve_labels().size(), 1u);
    EXPECT_EQ(w.serve_labels().at("pool"), "release");
    ASSERT_EQ(w.labels().size(), 1u);
    EXPECT_EQ(w.labels().at("pool"), "release");
  }

  std::vector<v1::TaskSpec> tasks;
  for (int i = 0; i < 3; ++i) {
    v1::TaskSpec release = ShellTask(absl::StrCat("sign", i), "sleep 0.05");
    (*release.mutable_labels())["pool"] = "release";
    tasks.push_back(release);
    tasks.push_back(ShellTask(absl::StrCat("build", i), "sleep 0.05"));
  }
  const std::string id = Submit(WriteDag("serve.json", Graph("serve", tasks)));
  ASSERT_FALSE(id.empty());
  v1::Graph g = PollGraph(id, absl::Seconds(30), [](const v1::Graph& g) {
    return g.summary().state() == v1::GRAPH_STATE_SUCCEEDED;
  });
  ASSERT_EQ(g.summary().state(), v1::GRAPH_STATE_SUCCEEDED) << g.DebugString();
  for (const v1::Task& t : g.tasks()) {
    ASSERT_EQ(t.attempts_size(), 1) << t.spec().id();
    EXPECT_EQ(t.attempts(0).worker(),
              absl::StartsWith(t.spec().id(), "sign") ? "signer" : "plain")
        << t.spec().id();
  }
}

TEST_F(ClusterTest, LabelledTasksRunOnlyOnMatchingWorkers) {
  // The unlabelled worker connects first and has more slots: a scheduler
  // that ignored labels would hand it labelled tasks.
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_NO_FATAL_FAILURE(StartWorker("plain", 4));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"plain"}));
  ASSERT_NO_FATAL_FAILURE(StartWorker("penguin", 1, {{"os", "linux"}}));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"plain", "penguin"}));

  CliResult workers = Cli({"workers", "--output", "json"});
  ASSERT_EQ(workers.exit_code, 0) << workers.err;
  v1::ListWorkersResponse list;
  ASSERT_TRUE(ParseJson(workers.out, list).ok()) << workers.out;
  for (const v1::WorkerInfo& w : list.workers()) {
    if (w.name() == "penguin") {
      EXPECT_EQ(w.slots(), 1);
      ASSERT_EQ(w.labels().size(), 1u);
      EXPECT_EQ(w.labels().at("os"), "linux");
    } else {
      EXPECT_EQ(w.slots(), 4);
      EXPECT_TRUE(w.labels().empty());
    }
  }

  std::vector<v1::TaskSpec> tasks;
  for (int i = 0; i < 4; ++i) {
    v1::TaskSpec labelled = ShellTask(absl::StrCat("linux", i), "sleep 0.05");
    (*labelled.mutable_labels())["os"] = "linux";
    tasks.push_back(labelled);
    tasks.push_back(ShellTask(absl::StrCat("any", i), "sleep 0.05"));
  }
  // No worker has os=windows: this one must never be handed out.
  v1::TaskSpec nowhere = ShellTask("windows", "touch ran-windows");
  (*nowhere.mutable_labels())["os"] = "windows";
  tasks.push_back(nowhere);
  const std::string id =
      Submit(WriteDag("labels.json", Graph("labels", tasks)));
  ASSERT_FALSE(id.empty());

  v1::Graph g = PollGraph(id, absl::Seconds(30), [](const v1::Graph& g) {
    return g.summary().counts().succeeded() == 8;
  });
  ASSERT_EQ(g.summary().counts().succeeded(), 8) << g.DebugString();
  for (const v1::Task& t : g.tasks()) {
    if (t.spec().id() == "windows") continue;
    ASSERT_EQ(t.attempts_size(), 1) << t.spec().id();
    if (absl::StartsWith(t.spec().id(), "linux")) {
      EXPECT_EQ(t.attempts(0).worker(), "penguin") << t.spec().id();
    }
  }
  const v1::Task* windows = FindTask(g, "windows");
  ASSERT_NE(windows, nullptr);
  EXPECT_EQ(windows->state(), v1::TASK_STATE_READY);
  EXPECT_EQ(windows->attempts_size(), 0);
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_RUNNING);

  CliResult cancel = Cli({"cancel", id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  g = PollGraph(id, absl::Seconds(10), [](const v1::Graph& g) {
    return g.summary().state() == v1::GRAPH_STATE_CANCELLED;
  });
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_CANCELLED);
  EXPECT_FALSE(std::filesystem::exists(Path("ran-windows")));
}

// Each bad DAG is refused with a message naming the problem, nothing is
// stored, and the daemon goes on serving.
TEST_F(ClusterTest, BadGraphsAreRefusedAndNothingIsStored) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}}));
  struct Case {
    std::string name;
    std::string json;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"cycle",
       R"({"name": "c", "tasks": [
            {"id": "a", "command": ["true"], "deps": ["b"]},
            {"id": "b", "command": ["true"], "deps": ["c"]},
            {"id": "c", "command": ["true"], "deps": ["a"]}]})",
       "dependency cycle: a -> b -> c -> a"},
      {"self_cycle",
       R"({"tasks": [{"id": "a", "command": ["true"], "deps": ["a"]}]})",
       "dependency cycle: a -> a"},
      {"unknown_dep",
       R"({"tasks": [{"id": "link", "command": ["true"], "deps": ["compil"]}]})",
       "task \"link\" depends on unknown task \"compil\""},
      {"duplicate",
       R"({"tasks": [{"id": "a", "command": ["true"]},
                     {"id": "a", "command": ["false"]}]})",
       "duplicate task id \"a\""},
      {"empty_command", R"({"tasks": [{"id": "a", "command": []}]})",
       "task \"a\" has an empty command"},
      {"no_command", R"({"tasks": [{"id": "a"}]})",
       "task \"a\" has an empty command"},
      {"no_tasks", R"({"name": "empty", "tasks": []})", "graph has no tasks"},
      {"invalid_json", R"({"tasks": [{"id": "a",)", "invalid DAG JSON"},
      {"unknown_field",
       R"({"tasks": [{"id": "a", "command": ["true"]},
                     {"id": "b", "command": ["true"], "dpes": ["a"]}]})",
       "dpes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = Path(c.name + ".json");
    WriteFileOrFail(path, c.json);
    CliResult r = Cli({"submit", path, "--wait"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, HasSubstr(c.message));
    if (c.name == "unknown_field") {
      EXPECT_THAT(r.err, HasSubstr("invalid DAG JSON"));
    }
  }
  CliResult missing = Cli({"submit", Path("does-not-exist.json")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("cannot open"));

  absl::StatusOr<v1::ListGraphsResponse> list = ListGraphs();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->graphs_size(), 0) << list->DebugString();

  CliResult unknown = Cli({"status", "424242"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("unknown graph \"424242\""));
  CliResult not_a_number = Cli({"status", "no-such-graph"});
  EXPECT_EQ(not_a_number.exit_code, 1);
  EXPECT_THAT(not_a_number.err, HasSubstr("unknown graph \"no-such-graph\""));

  // Still serving: a good graph goes through.
  std::string good = WriteDag(
      "good.json", Graph("good", {ShellTask("only", "touch ran-only")}));
  CliResult r = Cli({"submit", good, "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(Path("ran-only")));
  list = ListGraphs();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->graphs_size(), 1);
  EXPECT_EQ(list->graphs(0).name(), "good");
  EXPECT_FALSE(coordinator().Exited());
}

TEST_F(ClusterTest, CancelStopsRunningTaskAndSkipsDependents) {
  // One slot: the follow-up graph below proves the slot was given back.
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  KillAtTearDown(Path("long.pid"));
  std::string dag = WriteDag(
      "cancel.json",
      Graph("cancel", {ShellTask("long", "echo $$ > long.pid; exec sleep 60"),
                       ShellTask("after", "touch ran-after", {"long"})}));
  const std::string id = Submit(dag);
  ASSERT_FALSE(id.empty());

  v1::Graph g = PollGraph(id, absl::Seconds(20), [&](const v1::Graph& g) {
    const v1::Task* t = FindTask(g, "long");
    return t != nullptr && t->state() == v1::TASK_STATE_RUNNING &&
           ReadPid(Path("long.pid")).has_value();
  });
  ASSERT_EQ(FindTask(g, "long")->state(), v1::TASK_STATE_RUNNING);
  std::optional<pid_t> pid = ReadPid(Path("long.pid"));
  ASSERT_TRUE(pid.has_value());
  ASSERT_TRUE(ProcessAlive(*pid));

  CliResult cancel = Cli({"cancel", id});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(cancel.out,
              HasSubstr(absl::StrCat("cancelled 2 task(s) of graph ", id)));

  g = PollGraph(id, absl::Seconds(15), [](const v1::Graph& g) {
    return g.summary().state() == v1::GRAPH_STATE_CANCELLED;
  });
  EXPECT_EQ(g.summary().state(), v1::GRAPH_STATE_CANCELLED) << g.DebugString();
  const v1::Task* long_task = FindTask(g, "long");
  const v1::Task* after = FindTask(g, "after");
  ASSERT_NE(long_task, nullptr);
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(long_task->state(), v1::TASK_STATE_CANCELLED);
  EXPECT_EQ(LastAttempt(*long_task).state(), v1::ATTEMPT_STATE_CANCELLED);
  // A whole-graph cancel cancels every unfinished task, pending ones
  // included (a single-task cancel would skip them instead).
  EXPECT_EQ(after->state(), v1::TASK_STATE_CANCELLED);
  EXPECT_TRUE(after->skipped_because().empty());
  EXPECT_EQ(after->attempts_size(), 0);

  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] { return !ProcessAlive(*pid); }))
      << "the cancelled task's process " << *pid << " is still running";
  EXPECT_FALSE(std::filesystem::exists(Path("ran-after")));

  CliResult watch = Cli({"watch", id}, absl::Seconds(10));
  EXPECT_EQ(watch.exit_code, 1);
  EXPECT_THAT(watch.out, HasSubstr("cancelled"));

  std::string next =
      WriteDag("next.json", Graph("next", {ShellTask("n", "touch ran-next")}));
  CliResult r = Cli({"submit", next, "--wait"}, absl::Seconds(20));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(Path("ran-next")));
}

TEST_F(ClusterTest, CoordinatorCrashRecoversGraphWithoutRerunningDoneTasks) {
  // SIGTERM drains a worker; with no coordinator to hand its task back to,
  // it must still stop the task at the drain deadline and exit.
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_NO_FATAL_FAILURE(
      StartWorker("w1", 2, {}, {"--drain-timeout", "300ms"}));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1"}));
  KillAtTearDown(Path("second.pid"));
  std::string dag = WriteDag(
      "chain.json",
      Graph(
          "chain",
          {ShellTask("first", "echo ran >> counter"),
           ShellTask("second",
                     "if [ -f release ]; then echo ran >> second.log; exit 0; "
                     "fi; echo $$ > second.pid; exec sleep 60",
                     {"first"})}));
  const std::string id = Submit(dag);
  ASSERT_FALSE(id.empty());
  v1::Graph g = PollGraph(id, absl::Seconds(20), [&](const v1::Graph& g) {
    const v1::Task* first = FindTask(g, "first");
    const v1::Task* second = FindTask(g, "second");
    return first && second && first->state() == v1::TASK_STATE_SUCCEEDED &&
           second->state() == v1::TASK_STATE_RUNNING &&
           ReadPid(Path("second.pid")).has_value();
  });
  ASSERT_EQ(FindTask(g, "first")->state(), v1::TASK_STATE_SUCCEEDED)
      << g.DebugString();
  ASSERT_EQ(FindTask(g, "second")->state(), v1::TASK_STATE_RUNNING);
  std::optional<pid_t> pid = ReadPid(Path("second.pid"));
  ASSERT_TRUE(pid.has_value());

  ASSERT_NO_FATAL_FAILURE(KillCoordinator());
  // The worker cannot follow the daemon to its new port; stopping it must
  // stop its task even while it has no coordinator: SIGTERM, then the drain
  // deadline passes with the task still running.
  ASSERT_NO_FATAL_FAILURE(StopWorker("w1", SIGTERM, absl::Seconds(10)));
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] { return !ProcessAlive(*pid); }))
      << "the worker left its task " << *pid << " running";
  WriteFileOrFail(Path("release"), "");

  // Same db, new port. The worker, restarted under the same name and
  // holding nothing, makes the daemon re-queue the old attempt at once.
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_NO_FATAL_FAILURE(StartWorker("w1", 2));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1"}));

  CliResult watch = Cli({"watch", id}, absl::Seconds(30));
  EXPECT_EQ(watch.exit_code, 0) << watch.err;
  absl::StatusOr<v1::Graph> done = GetGraph(id);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->summary().state(), v1::GRAPH_STATE_SUCCEEDED);
  const v1::Task* first = FindTask(*done, "first");
  const v1::Task* second = FindTask(*done, "second");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(first->attempts_size(), 1);
  ASSERT_EQ(second->attempts_size(), 2) << done->DebugString();
  EXPECT_EQ(second->attempts(0).state(), v1::ATTEMPT_STATE_LOST);
  EXPECT_THAT(second->attempts(0).error(), HasSubstr("came back without it"));
  EXPECT_EQ(second->attempts(1).state(), v1::ATTEMPT_STATE_SUCCEEDED);
  EXPECT_EQ(second->attempts(1).number(), 2);
  EXPECT_THAT(ReadLines(Path("counter")), ElementsAre("ran"));
  EXPECT_THAT(ReadLines(Path("second.log")), ElementsAre("ran"));
}

// Starts a second vitte-taskd with `args` (after --port-file) and waits
// until it exits or writes its port file (it serves).
struct Refusal {
  std::optional<int> exit_code;  // nullopt: it is serving
  std::string err;
};
Refusal StartExpectingRefusal(const std::string& log,
                              const std::string& port_file,
                              const std::vector<std::string>& args) {
  std::vector<std::string> argv = {TaskdPath(), "--port-file", port_file};
  argv.insert(argv.end(), args.begin(), args.end());
  auto process = Process::Start(argv, log);
  if (!process.ok()) {
    ADD_FAILURE() << process.status();
    return {};
  }
  Process& p = **process;
  bool decided = PollUntil(absl::Seconds(20), [&] {
    return p.Exited() || std::filesystem::exists(port_file);
  });
  EXPECT_TRUE(decided) << "vitte-taskd neither served nor exited in 20 s\n"
                       << p.LogsForDiagnosis();
  Refusal r;
  if (p.Exited()) r.exit_code = *p.WaitForExit(absl::ZeroDuration());
  r.err = p.Stdout() + p.Stderr();
  return r;  // a daemon still serving is killed here
}

// "One daemon holds a db file; a second one fails loudly."
TEST_F(ClusterTest, SecondDaemonOnTheSameDatabaseIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  Refusal second = StartExpectingRefusal(
      Path("second-taskd"), Path("second.port"),
      {"--listen", "127.0.0.1:0", "--db", Path("coordinator.db")});
  ASSERT_TRUE(second.exit_code.has_value())
      << "a second daemon serves the same database";
  EXPECT_EQ(*second.exit_code, 1);
  EXPECT_THAT(second.err, HasSubstr("is in use by another vitte-taskd"));

  // The first one is unharmed.
  std::string dag = WriteDag("ok.json", Graph("ok", {MakeTask("t", {"true"})}));
  ASSERT_NO_FATAL_FAILURE(StartWorker("w1", 1));
  CliResult r = Cli({"submit", dag, "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ClusterTest, DaemonRefusesAFileThatIsNotADatabase) {
  WriteFileOrFail(Path("garbage.db"), std::string(4096, 'x'));
  Refusal r = StartExpectingRefusal(
      Path("taskd"), Path("taskd.port"),
      {"--listen", "127.0.0.1:0", "--db", Path("garbage.db")});
  ASSERT_TRUE(r.exit_code.has_value()) << "vitte-taskd serves a garbage file";
  EXPECT_EQ(*r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("is not a vitte-task database"));
}

// A daemon asked for a port another daemon serves must not share it.
TEST_F(ClusterTest, SecondDaemonOnABusyPortIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  Refusal r =
      StartExpectingRefusal(Path("second-taskd"), Path("second.port"),
                            {"--listen", address(), "--db", Path("other.db")});
  ASSERT_TRUE(r.exit_code.has_value())
      << "a second vitte-taskd serves the port " << address() << ":\n"
      << r.err;
  EXPECT_NE(*r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("cannot listen"));
}

TEST_F(ClusterTest, RetriesUpToMaxAttemptsAndKillsTimedOutTasks) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}}));
  KillAtTearDown(Path("slow.pid"));
  // Fails twice, then succeeds: the third and last allowed attempt.
  v1::TaskSpec flaky =
      ShellTask("flaky", "echo try >> tries; [ $(wc -l < tries) -ge 3 ]");
  flaky.set_max_attempts(3);
  v1::TaskSpec slow = ShellTask("slow", "echo $$ > slow.pid; exec sleep 60");
  slow.set_timeout_s(1);
  const std::string dag = WriteDag("retry.json", Graph("retry", {flaky, slow}));

  CliResult r = Cli({"submit", dag, "--wait"}, absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("task \"slow\" failed: timed out after 1s"));
  EXPECT_THAT(r.err, Not(HasSubstr("task \"flaky\" failed")));

  absl::StatusOr<v1::Graph> g = GetGraph(FirstLine(r.out));
  ASSERT_TRUE(g.ok()) << g.status();
  const v1::Task* f = FindTask(*g, "flaky");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->state(), v1::TASK_STATE_SUCCEEDED);
  ASSERT_EQ(f->attempts_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(f->attempts(i).number(), i + 1);
    EXPECT_EQ(f->attempts(i).state(),
              i < 2 ? v1::ATTEMPT_STATE_FAILED : v1::ATTEMPT_STATE_SUCCEEDED);
  }
  EXPECT_EQ(ReadLines(Path("tries")).size(), 3u);

  const v1::Task* t = FindTask(*g, "slow");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->state(), v1::TASK_STATE_FAILED);
  ASSERT_EQ(t->attempts_size(), 1);
  EXPECT_TRUE(t->attempts(0).timed_out());
  EXPECT_LT(t->attempts(0).finished_at_ms() - t->attempts(0).started_at_ms(),
            30'000);
  std::optional<pid_t> pid = ReadPid(Path("slow.pid"));
  ASSERT_TRUE(pid.has_value());
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] { return !ProcessAlive(*pid); }))
      << "the timed-out task " << *pid << " is still running";
}

TEST_F(ClusterTest, ResubmitWithSameRequestIdReturnsTheSameGraph) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string dag = WriteDag(
      "once.json", Graph("once", {ShellTask("t", "echo ran >> counter")}));
  CliResult first = Cli({"submit", dag, "--request-id", "req-1", "--wait"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  CliResult again = Cli({"submit", dag, "--request-id", "req-1", "--wait"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(FirstLine(again.out), FirstLine(first.out));
  EXPECT_THAT(again.err, HasSubstr("request id \"req-1\" matched graph"));
  EXPECT_THAT(ReadLines(Path("counter")), ElementsAre("ran"));
  absl::StatusOr<v1::ListGraphsResponse> list = ListGraphs();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->graphs_size(), 1);
}

// A watch that starts while a task runs names the worker running it.
TEST_F(ClusterTest, WatchOfRunningTaskNamesItsWorker) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  std::string dag = WriteDag(
      "watch.json",
      Graph("watch",
            {ShellTask("slow",
                       "touch started; i=0; while [ ! -f release ] && "
                       "[ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done")}));
  const std::string id = Submit(dag);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return std::filesystem::exists(Path("started"));
  }));
  std::unique_ptr<Process> watch =
      StartCli({"--coordinator", address(), "watch", id});
  ASSERT_NE(watch, nullptr);
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return absl::StrContains(watch->Stdout(), "slow started");
  })) << watch->LogsForDiagnosis();
  WriteFileOrFail(Path("release"), "");
  absl::StatusOr<int> code = watch->WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << watch->LogsForDiagnosis();
  EXPECT_EQ(*code, 0) << watch->LogsForDiagnosis();
  EXPECT_THAT(watch->Stdout(), HasSubstr("slow started on w1"));
  EXPECT_THAT(watch->Stdout(), HasSubstr("slow succeeded"));
}

}  // namespace
}  // namespace vitte::task::integration
