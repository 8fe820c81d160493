// libFuzzer target: the input is a serialized v1::SubmitGraphRequest, as the
// daemon's TaskService::Submit receives it. It goes through ParseFromArray,
// then FromProto + ValidateGraphSpec (checked by CheckGraph), and back to a
// DAG file: every graph on the wire has a JSON form that ParseGraphJson reads
// back to the same graph.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "coordinator/proto_convert.h"
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
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
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
