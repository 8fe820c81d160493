// gRPC calls with raw bytes, for tests that send what no generated stub
// would (malformed messages) or call services we have no generated code
// for (health checking, reflection).
#ifndef VITTE_TESTS_INTEGRATION_RAW_CALL_H_
#define VITTE_TESTS_INTEGRATION_RAW_CALL_H_

#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace vitte::task::integration {

// Metadata sent with a call, e.g. {"authorization", "Bearer vt1_..."}.
using RawMetadata = std::vector<std::pair<std::string, std::string>>;

struct RawReply {
  grpc::Status status;
  std::vector<std::string> messages;  // as read, in order
};

// Calls unary `method` (e.g. "/vitte.task.v1.TaskService/SubmitGraph") with
// `payload` as the request's bytes, within 10 s.
RawReply RawUnary(const std::string& address, const std::string& method,
                  const std::string& payload,
                  const RawMetadata& metadata = {});

// Opens streaming `method`, writes each of `messages`, then, with
// `half_close`, says it is done writing; reads until the server ends the
// call, within 10 s. Without `half_close`, a server that ignored bad input
// would leave the stream open until the deadline (DEADLINE_EXCEEDED).
RawReply RawStream(const std::string& address, const std::string& method,
                   const std::vector<std::string>& messages,
                   bool half_close = false, const RawMetadata& metadata = {});

}  // namespace vitte::task::integration

#endif  // VITTE_TESTS_INTEGRATION_RAW_CALL_H_
