// Reads a SubmitGraphRequest straight from its wire bytes into a GraphSpec,
// one task at a time. Parsing the whole request first would hold a big
// graph twice, as a proto and as a GraphSpec: for a million tasks that is
// the difference between about 0.5 and 1 GiB at the peak.
#ifndef VITTE_COORDINATOR_SUBMIT_PARSER_H_
#define VITTE_COORDINATOR_SUBMIT_PARSER_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/graph_spec.h"

namespace google::protobuf::io {
class ZeroCopyInputStream;
}  // namespace google::protobuf::io

namespace vitte::task {

struct SubmitRequest {
  GraphSpec spec;
  std::string request_id;
};

// Same result as parsing a v1::SubmitGraphRequest and converting its graph
// (FromProto), but a request over the task or dependency limits is refused
// (INVALID_ARGUMENT) as soon as it crosses them, before it costs memory.
// INVALID_ARGUMENT too when the bytes are not a SubmitGraphRequest.
absl::StatusOr<SubmitRequest> ParseSubmitRequest(
    google::protobuf::io::ZeroCopyInputStream& in, const GraphLimits& limits);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_SUBMIT_PARSER_H_
