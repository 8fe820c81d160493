// The daemon's standard gRPC services: health checking and reflection,
// called the way a load balancer or grpcurl would, without our .proto.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
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

}  // namespace
}  // namespace vitte::task::integration
