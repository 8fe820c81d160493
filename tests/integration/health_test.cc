// What operators' tools see of the daemon: gRPC health checking and
// reflection, called the way a load balancer or grpcurl would (without our
// .proto), and JSON log lines.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/http_get.h"
#include "tests/integration/raw_call.h"

namespace vitte::task::integration {
namespace {

// grpc.health.v1.HealthCheckResponse{status: SERVING}: field 1, varint 1.
const std::string kServing("\x08\x01", 2);

using HealthTest = IntegrationTest;

TEST_F(HealthTest, HealthCheckSaysServing) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  // An empty HealthCheckRequest asks about the server as a whole.
  RawReply reply = RawUnary(address(), "/grpc.health.v1.Health/Check", "");
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  ASSERT_EQ(reply.messages.size(), 1u);
  EXPECT_EQ(reply.messages[0], kServing);
}

TEST_F(HealthTest, HttpListenerAnswersHealthz) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_GT(http_port(), 0);
  absl::StatusOr<HttpReply> reply = HttpGet(http_port(), "/healthz");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "ok\n");
}

TEST_F(HealthTest, ReflectionListsBothServices) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  // ServerReflectionRequest{list_services: ""}: field 7, empty string.
  const std::string list_services("\x3a\x00", 2);
  RawReply reply = RawStream(
      address(), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      {list_services}, /*half_close=*/true);
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  ASSERT_EQ(reply.messages.size(), 1u);
  // The answer names each service as a plain string.
  for (const char* service : {"vitte.task.v1.TaskService",
                              "vitte.task.v1.WorkerService",
                              "grpc.health.v1.Health"}) {
    EXPECT_TRUE(absl::StrContains(reply.messages[0], service)) << service;
  }
}


// --log-format json: every line the daemon writes is one JSON object, for
// log collectors; its decisions are in them.
TEST_F(HealthTest, DaemonLogsOneJsonObjectPerLine) {
  SetTaskdFlag("log-format", "json");
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string dag =
      WriteDag("g.json", Graph("json-logs", {ShellTask("t", "true")}));
  CliResult r = Cli({"submit", dag, "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string log = coordinator().Stderr();
  int lines = 0;
  bool submitted = false;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    ++lines;
    EXPECT_TRUE(absl::StartsWith(line, "{\"time\":\"")) << line;
    EXPECT_TRUE(absl::EndsWith(line, "\"}")) << line;
    EXPECT_TRUE(absl::StrContains(line, "\"level\":\"")) << line;
    submitted |= absl::StrContains(line, "\\\"json-logs\\\" submitted");
  }
  EXPECT_GE(lines, 3);
  EXPECT_TRUE(submitted) << log;
}

}  // namespace
}  // namespace vitte::task::integration
