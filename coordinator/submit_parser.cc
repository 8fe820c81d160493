#include "coordinator/submit_parser.h"

#include <climits>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/proto_convert.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task {
namespace {

using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

// Field numbers of the two outer messages, which are read by hand.
constexpr int kRequestGraph = v1::SubmitGraphRequest::kGraphFieldNumber;
constexpr int kRequestId = v1::SubmitGraphRequest::kRequestIdFieldNumber;
constexpr int kGraphName = v1::GraphSpec::kNameFieldNumber;
constexpr int kGraphTasks = v1::GraphSpec::kTasksFieldNumber;

absl::Status Malformed() {
  return absl::InvalidArgumentError(
      "malformed vitte.task.v1.SubmitGraphRequest: the request does not "
      "parse");
}

bool IsLengthDelimited(uint32_t tag) {
  return WireFormatLite::GetTagWireType(tag) ==
         WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
}

// A proto3 string field: protobuf refuses one that is not UTF-8, and so
// must we (clients would fail to parse it back in every answer).
bool ReadUtf8String(CodedInputStream& in, std::string& out,
                    const char* field_name) {
  return WireFormatLite::ReadString(&in, &out) &&
         WireFormatLite::VerifyUtf8String(out.data(),
                                          static_cast<int>(out.size()),
                                          WireFormatLite::PARSE, field_name);
}

// Reads a length-delimited field's size and limits the stream to it.
bool EnterField(CodedInputStream& in, CodedInputStream::Limit& limit) {
  int length = 0;
  if (!in.ReadVarintSizeAsInt(&length)) return false;
  limit = in.PushLimit(length);
  return true;
}

// Ends a field entered with EnterField: its bytes must all have been read
// (at end of input, a field cut short looks like one that ended).
bool LeaveField(CodedInputStream& in, CodedInputStream::Limit limit) {
  if (in.BytesUntilLimit() != 0) return false;
  in.PopLimit(limit);
  return true;
}

// Reads the GraphSpec whose bytes end at the stream's current limit,
// appending to `spec` (a message field seen twice merges, as in proto).
absl::Status ReadGraph(CodedInputStream& in, const GraphLimits& limits,
                       GraphSpec& spec, int64_t& total_deps) {
  v1::TaskSpec task;  // reused: its buffers serve every task
  while (uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field == kGraphName && IsLengthDelimited(tag)) {
      if (!ReadUtf8String(in, spec.name, "vitte.task.v1.GraphSpec.name")) {
        return Malformed();
      }
    } else if (field == kGraphTasks && IsLengthDelimited(tag)) {
      if (static_cast<int64_t>(spec.tasks.size()) >= limits.max_tasks) {
        return absl::InvalidArgumentError(
            absl::StrCat("graph has more than the limit of ",
                         limits.max_tasks, " tasks"));
      }
      CodedInputStream::Limit limit;
      if (!EnterField(in, limit)) return Malformed();
      task.Clear();
      if (!task.MergeFromCodedStream(&in) || !in.ConsumedEntireMessage() ||
          !LeaveField(in, limit)) {
        return Malformed();
      }
      total_deps += task.deps_size();
      if (total_deps > limits.max_total_deps) {
        return absl::InvalidArgumentError(absl::StrCat(
            "graph has more than the limit of ", limits.max_total_deps,
            " dependencies in all"));
      }
      spec.tasks.push_back(FromProto(std::move(task)));
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return Malformed();
    }
  }
  return in.ConsumedEntireMessage() ? absl::OkStatus() : Malformed();
}

}  // namespace

absl::StatusOr<SubmitRequest> ParseSubmitRequest(
    google::protobuf::io::ZeroCopyInputStream& input,
    const GraphLimits& limits) {
  CodedInputStream in(&input);
  in.SetTotalBytesLimit(INT_MAX);  // the server's message limit applies
  SubmitRequest out;
  int64_t total_deps = 0;
  while (uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field == kRequestGraph && IsLengthDelimited(tag)) {
      CodedInputStream::Limit limit;
      if (!EnterField(in, limit)) return Malformed();
      RETURN_IF_ERROR(ReadGraph(in, limits, out.spec, total_deps));
      if (!LeaveField(in, limit)) return Malformed();
    } else if (field == kRequestId && IsLengthDelimited(tag)) {
      if (!ReadUtf8String(in, out.request_id,
                          "vitte.task.v1.SubmitGraphRequest.request_id")) {
        return Malformed();
      }
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return Malformed();
    }
  }
  if (!in.ConsumedEntireMessage()) return Malformed();
  return out;
}

}  // namespace vitte::task
