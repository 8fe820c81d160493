// /metrics of vitte-taskd and vitte-worker, scraped as Prometheus would:
// before, during and after a small graph runs.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/http_get.h"

namespace vitte::task::integration {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// The value of the sample `series` (name and labels exactly as rendered) in
// exposition text; nullopt if there is no such line.
std::optional<double> Sample(const std::string& text,
                             const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, series) || line.size() <= series.size() ||
        line[series.size()] != ' ') {
      continue;
    }
    double value = 0;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
  }
  return std::nullopt;
}

std::string Rpc(const std::string& service, const std::string& method,
                const std::string& code) {
  return absl::StrCat("vitte_grpc_server_handled_total{grpc_service=\"",
                      service, "\",grpc_method=\"", method, "\",grpc_code=\"",
                      code, "\"}");
}

class MetricsTest : public IntegrationTest {
 protected:
  // GET /metrics on `port`; fails the test (empty body) on anything but a
  // 200 in the exposition format.
  std::string Scrape(int port) {
    absl::StatusOr<HttpReply> reply = HttpGet(port, "/metrics");
    EXPECT_TRUE(reply.ok()) << reply.status();
    if (!reply.ok()) return "";
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->content_type, kContentType);
    return reply->body;
  }

  // Starts worker `name` serving its own /metrics on an ephemeral port,
  // and returns that port (0, with a failure recorded, if it never says).
  int StartWorkerWithMetrics(const std::string& name, int slots) {
    const std::string port_file = Path(absl::StrCat(name, ".http_port"));
    StartWorker(
        name, slots, {},
        {"--metrics-listen", "127.0.0.1:0", "--http-port-file", port_file});
    int port = 0;
    bool written = PollUntil(absl::Seconds(20), [&] {
      return ReadPortFile(port_file, &port);
    });
    EXPECT_TRUE(written) << "worker " << name << " wrote no HTTP port file\n"
                         << worker(name).LogsForDiagnosis();
    return port;
  }
};

TEST_F(MetricsTest, DaemonAndWorkerCountARun) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  const std::string task_service = "vitte.task.v1.TaskService";
  const std::string worker_service = "vitte.task.v1.WorkerService";

  // Before anything ran: every series is there, at zero.
  std::string before = Scrape(http_port());
  EXPECT_THAT(before, ::testing::HasSubstr(
                          "# TYPE vitte_dispatch_latency_seconds histogram\n"));
  EXPECT_EQ(Sample(before, "vitte_tasks_finished_total{state=\"succeeded\"}"),
            0);
  EXPECT_EQ(Sample(before, "vitte_dispatch_latency_seconds_count"), 0);
  EXPECT_EQ(Sample(before, Rpc(task_service, "SubmitGraph", "OK")), 0);
  EXPECT_EQ(Sample(before, Rpc(worker_service, "Connect", "OK")), 0);
  EXPECT_EQ(Sample(before, "vitte_workers_connected"), 0);

  const int worker_port = StartWorkerWithMetrics("w1", 2);
  ASSERT_GT(worker_port, 0);
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1"}));
  EXPECT_EQ(Sample(Scrape(worker_port), "vitte_worker_slots"), 2);

  // "hold" runs until the test lets it go, so that a scrape sees it run.
  const std::string go = Path("go");
  const std::string dag = WriteDag(
      "g.json",
      Graph("metrics", {ShellTask("a", "true"), ShellTask("b", "true"),
                        ShellTask("hold",
                                  absl::StrCat("while [ ! -e '", go,
                                               "' ]; do sleep 0.02; done"),
                                  {"a", "b"})}));
  const std::string graph_id = Submit(dag);
  ASSERT_FALSE(graph_id.empty());

  std::string during;
  bool running = PollUntil(absl::Seconds(20), [&] {
    during = Scrape(http_port());
    return Sample(during, "vitte_tasks{state=\"running\"}") == 1 &&
           Sample(during, "vitte_tasks{state=\"succeeded\"}") == 2;
  });
  ASSERT_TRUE(running) << during;
  EXPECT_EQ(Sample(during, "vitte_workers_connected"), 1);
  EXPECT_EQ(Sample(during, "vitte_slots"), 2);
  EXPECT_EQ(Sample(during, "vitte_slots_busy"), 1);
  EXPECT_EQ(Sample(during, "vitte_graphs_running"), 1);
  EXPECT_EQ(Sample(during, "vitte_attempts_running"), 1);
  std::string worker_during;
  bool busy = PollUntil(absl::Seconds(20), [&] {
    worker_during = Scrape(worker_port);
    return Sample(worker_during, "vitte_worker_slots_busy") == 1;
  });
  EXPECT_TRUE(busy) << worker_during;
  EXPECT_EQ(Sample(worker_during, "vitte_worker_connected"), 1);

  WriteFileOrFail(go, "");
  CliResult watched = Cli({"watch", graph_id});
  ASSERT_EQ(watched.exit_code, 0) << watched.err;

  std::string after = Scrape(http_port());
  EXPECT_EQ(Sample(after, "vitte_tasks_finished_total{state=\"succeeded\"}"), 3)
      << after;
  EXPECT_EQ(Sample(after, "vitte_attempts_started_total"), 3);
  EXPECT_GE(Sample(after, "vitte_dispatch_latency_seconds_count").value_or(0),
            3);
  EXPECT_EQ(
      Sample(after, "vitte_task_duration_seconds_count{outcome=\"succeeded\"}"),
      3);
  EXPECT_GE(Sample(after, "vitte_db_commit_seconds_count").value_or(0), 1);
  EXPECT_EQ(Sample(after, "vitte_db_commit_seconds_count"),
            Sample(after, "vitte_db_commit_rows_count"));
  EXPECT_EQ(Sample(after, Rpc(task_service, "SubmitGraph", "OK")), 1);
  EXPECT_EQ(Sample(after, Rpc(task_service, "FollowEvents", "OK")), 1);
  EXPECT_EQ(Sample(after, "vitte_graphs_running"), 0);

  // The worker counted the same three attempts, and timed their spawns.
  std::string worker_after = Scrape(worker_port);
  EXPECT_EQ(Sample(worker_after, "vitte_worker_tasks_started_total"), 3)
      << worker_after;
  EXPECT_EQ(Sample(worker_after,
                   "vitte_worker_tasks_finished_total{outcome=\"succeeded\"}"),
            3);
  EXPECT_EQ(Sample(worker_after, "vitte_worker_spawn_seconds_count"), 3);
  EXPECT_EQ(Sample(worker_after, "vitte_worker_sessions_total"), 1);
  EXPECT_EQ(Sample(worker_after, "vitte_worker_slots_busy"), 0);

  // A worker's stream is one long call: it is counted when it ends, here
  // with OK after the drain's goodbye.
  ASSERT_NO_FATAL_FAILURE(StopWorker("w1", SIGTERM));
  std::string stopped;
  bool counted = PollUntil(absl::Seconds(10), [&] {
    stopped = Scrape(http_port());
    return Sample(stopped, Rpc(worker_service, "Connect", "OK")) == 1;
  });
  EXPECT_TRUE(counted) << stopped;
  EXPECT_EQ(Sample(stopped, "vitte_workers_connected"), 0);
}

// An error status is counted under its own code.
TEST_F(MetricsTest, DaemonCountsFailedCallsByCode) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  CliResult r = Cli({"status", "424242"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(Sample(Scrape(http_port()),
                   Rpc("vitte.task.v1.TaskService", "GetGraph", "NOT_FOUND")),
            1);
}

}  // namespace
}  // namespace vitte::task::integration
