// The C++ client library against an embedded coordinator and worker, over
// the in-process channel (no port).
#include "client/client.h"

#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "coordinator/server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/process_runner.h"
#include "worker/session.h"
#include "worker/worker.h"

namespace vitte::task {
namespace {

using ::testing::HasSubstr;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (std::filesystem::path(::testing::TempDir()) /
                       "client_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    ServerOptions options;
    options.listen = "";
    options.db_path = dir_ + "/db";
    auto server = CoordinatorServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto runner = ProcessRunner::Create();
    ASSERT_TRUE(runner.ok());
    runner_ = *std::move(runner);
    worker_ = std::make_unique<Worker>(*runner_, 2);
    SessionOptions session;
    session.name = "embedded";
    session.labels = {{"os", "linux"}};
    session_ = std::make_unique<WorkerSession>(server_->InProcessChannel(),
                                               *worker_, session);
    serving_ = std::thread([this] { session_->Run(); });
    client_ = std::make_unique<Client>(server_->InProcessChannel());
  }

  void TearDown() override {
    if (session_) session_->Stop();
    if (serving_.joinable()) serving_.join();
    session_.reset();
    worker_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  static v1::TaskSpec Task(const std::string& id, std::vector<std::string> command,
                           std::vector<std::string> deps = {}) {
    v1::TaskSpec t;
    t.set_id(id);
    for (auto& c : command) t.add_command(c);
    for (auto& d : deps) t.add_deps(d);
    return t;
  }

  std::string dir_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<ProcessRunner> runner_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<WorkerSession> session_;
  std::thread serving_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, SubmitWatchAndGet) {
  v1::GraphSpec spec;
  spec.set_name("origin");
  *spec.add_tasks() = Task("analyse", {"sh", "-c", "echo Analyse du module..."});
  *spec.add_tasks() = Task("build", {"sh", "-c", "echo Compilation >&2"}, {"analyse"});
  auto submitted = client_->Submit(spec);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_TRUE(submitted->created());

  std::vector<std::string> finished_order;
  auto state = client_->Watch(submitted->graph_id(), [&](const v1::GraphEvent& e) {
    if (e.task_state() == v1::TASK_STATE_SUCCEEDED) finished_order.push_back(e.task_id());
  });
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, v1::GRAPH_STATE_SUCCEEDED);
  EXPECT_EQ(finished_order, (std::vector<std::string>{"analyse", "build"}));

  auto graph = client_->GetGraph(submitted->graph_id(), true);
  ASSERT_TRUE(graph.ok());
  ASSERT_EQ(graph->tasks_size(), 2);
  const v1::Attempt& a = graph->tasks(0).attempts(0);
  EXPECT_EQ(a.worker(), "embedded");
  EXPECT_EQ(a.stdout_tail(), "Analyse du module...\n");
  EXPECT_EQ(graph->tasks(1).attempts(0).stderr_tail(), "Compilation\n");
  EXPECT_EQ(graph->summary().counts().succeeded(), 2);
  auto summary = client_->GetGraphSummary(submitted->graph_id());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->state(), v1::GRAPH_STATE_SUCCEEDED);
  EXPECT_EQ(summary->counts().total(), 2);

  auto list = client_->ListGraphs();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name(), "origin");

  // Watching a finished graph returns its final state at once.
  auto again = client_->Watch(submitted->graph_id(), [](const v1::GraphEvent&) {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, v1::GRAPH_STATE_SUCCEEDED);
}

TEST_F(ClientTest, RequestIdMakesSubmitIdempotent) {
  v1::GraphSpec spec;
  *spec.add_tasks() = Task("a", {"true"});
  auto first = client_->Submit(spec, "req-1");
  auto second = client_->Submit(spec, "req-1");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->graph_id(), second->graph_id());
  EXPECT_FALSE(second->created());
  auto list = client_->ListGraphs();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(ClientTest, CancelStopsARunningTask) {
  v1::GraphSpec spec;
  *spec.add_tasks() = Task("long", {"sleep", "60"});
  *spec.add_tasks() = Task("after", {"true"}, {"long"});
  auto submitted = client_->Submit(spec);
  ASSERT_TRUE(submitted.ok());
  // Bounded wait for the task to be running.
  bool running = false;
  for (int i = 0; i < 500 && !running; ++i) {
    auto g = client_->GetGraph(submitted->graph_id());
    running = g.ok() && g->tasks(0).state() == v1::TASK_STATE_RUNNING;
    if (!running) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(running);
  auto cancelled = client_->Cancel(submitted->graph_id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(*cancelled, 2);  // a whole-graph cancel cancels pending tasks too
  auto state = client_->Watch(submitted->graph_id(), [](const v1::GraphEvent&) {});
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, v1::GRAPH_STATE_CANCELLED);
  auto graph = client_->GetGraph(submitted->graph_id());
  ASSERT_TRUE(graph.ok());
  EXPECT_EQ(graph->tasks(0).state(), v1::TASK_STATE_CANCELLED);
  EXPECT_EQ(graph->tasks(1).state(), v1::TASK_STATE_CANCELLED);
  // The process is killed: the worker frees its slot (bounded wait).
  bool idle = false;
  for (int i = 0; i < 1000 && !idle; ++i) {
    idle = worker_->running() == 0;
    if (!idle) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(idle);
}

TEST_F(ClientTest, ErrorsCarryCodesAndNames) {
  auto missing = client_->GetGraph("12345");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("12345"));
  v1::GraphSpec cycle;
  *cycle.add_tasks() = Task("a", {"true"}, {"b"});
  *cycle.add_tasks() = Task("b", {"true"}, {"a"});
  auto refused = client_->Submit(cycle);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(), "dependency cycle: a -> b -> a");
  auto workers = client_->ListWorkers();
  ASSERT_TRUE(workers.ok());
}

TEST(ParseGraphJsonTest, AcceptsTheDocumentedFormat) {
  auto spec = ParseGraphJson(R"({"name": "build-lib",
    "tasks": [
      {"id": "analyse", "command": ["sh", "-c", "echo analysing"], "deps": []},
      {"id": "build", "command": ["make", "-j2"], "deps": ["analyse"],
       "env": {"CC": "gcc"}, "cwd": "/src/lib", "priority": 10,
       "max_attempts": 3, "timeout_s": 600, "labels": {"os": "linux"}}]})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->tasks_size(), 2);
  const v1::TaskSpec& build = spec->tasks(1);
  EXPECT_EQ(build.env().at("CC"), "gcc");
  EXPECT_EQ(build.timeout_s(), 600);
  EXPECT_EQ(build.max_attempts(), 3);
  EXPECT_EQ(build.labels().at("os"), "linux");
}

TEST(ParseGraphJsonTest, RefusesTyposAndBrokenJson) {
  auto typo = ParseGraphJson(R"({"tasks": [{"id": "a", "command": ["x"], "dpes": []}]})");
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(typo.status().message()), HasSubstr("dpes"));
  auto broken = ParseGraphJson(R"({"tasks": [)");
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(broken.status().message()), HasSubstr("invalid DAG JSON"));
}

}  // namespace
}  // namespace vitte::task
