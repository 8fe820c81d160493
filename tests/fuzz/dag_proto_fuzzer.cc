// libFuzzer target: the input is a serialized v1::SubmitGraphRequest, as the
// daemon's TaskService::Submit receives it. The daemon's streaming reader
// (ParseSubmitRequest) must accept exactly the bytes protobuf parses, within
// the limits, and read the same graph; then ParseSubmitRequest +
// ValidateGraphSpec (checked by CheckGraph), and back to a DAG file: every
// graph on the wire has a JSON form that ParseGraphJson reads back to the
// same graph.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "coordinator/proto_convert.h"
#include "coordinator/submit_parser.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/json_util.h"
#include "tests/fuzz/dag_fuzz_check.h"
#include "vitte/task/v1/task.pb.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vitte::task;
  v1::SubmitGraphRequest request;
  const bool parsed = request.ParseFromArray(data, static_cast<int>(size));
  google::protobuf::io::ArrayInputStream bytes(data, static_cast<int>(size));
  absl::StatusOr<SubmitRequest> streamed =
      ParseSubmitRequest(bytes, GraphLimits());
  if (!parsed) {
    VITTE_FUZZ_CHECK(!streamed.ok(), "ParseSubmitRequest read bytes that "
                                     "protobuf refuses");
    return 0;
  }
  VITTE_FUZZ_CHECK(streamed.ok(), streamed.status().ToString());
  VITTE_FUZZ_CHECK(fuzz::SameGraph(streamed->spec, FromProto(request.graph())),
                   "ParseSubmitRequest read another graph than protobuf");
  VITTE_FUZZ_CHECK(streamed->request_id == request.request_id(),
                   "ParseSubmitRequest read another request id");
  fuzz::CheckGraph(request.graph());

  std::string json;
  const auto printed =
      google::protobuf::util::MessageToJsonString(request.graph(), &json);
  VITTE_FUZZ_CHECK(printed.ok(), printed.ToString());
  absl::StatusOr<v1::GraphSpec> reread = ParseGraphJson(json);
  VITTE_FUZZ_CHECK(reread.ok(), reread.status().ToString() + "\n  " + json);
  VITTE_FUZZ_CHECK(
      fuzz::SameGraph(FromProto(*reread), FromProto(request.graph())),
      "the JSON form reads back differently: " + json);
  return 0;
}
