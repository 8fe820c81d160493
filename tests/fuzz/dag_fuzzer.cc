// libFuzzer target: the input is a DAG file, as `vitte-task submit` and
// `vitte-task run` read it. It goes through ParseGraphJson, then the
// daemon's FromProto + ValidateGraphSpec (checked by CheckGraph), and across
// the wire in between: a graph the client parsed, sent as a
// SubmitGraphRequest, must reach the daemon unchanged.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "client/client.h"
#include "coordinator/proto_convert.h"
#include "google/protobuf/stubs/logging.h"
#include "tests/fuzz/dag_fuzz_check.h"
#include "vitte/task/v1/task.pb.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every string field with invalid UTF-8; keep the fuzzer's
  // output to its own status lines.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vitte::task;
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<v1::GraphSpec> graph = ParseGraphJson(json);
  if (!graph.ok()) {
    VITTE_FUZZ_CHECK(absl::IsInvalidArgument(graph.status()),
                     "bad JSON refused with " + graph.status().ToString());
    return 0;
  }
  fuzz::CheckGraph(*graph);

  v1::SubmitGraphRequest request;
  *request.mutable_graph() = *graph;
  std::string wire;
  VITTE_FUZZ_CHECK(request.SerializeToString(&wire), "cannot serialize");
  v1::SubmitGraphRequest received;
  VITTE_FUZZ_CHECK(received.ParseFromString(wire),
                   "the daemon cannot parse a graph the client parsed");
  VITTE_FUZZ_CHECK(
      fuzz::SameGraph(FromProto(received.graph()), FromProto(*graph)),
      "the graph changed on the wire");
  return 0;
}
