// Conversions between the wire types of vitte.task.v1 and the coordinator's
// domain types. The only coordinator file besides the services that sees
// generated protobuf code.
#ifndef VITTE_COORDINATOR_PROTO_CONVERT_H_
#define VITTE_COORDINATOR_PROTO_CONVERT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/coordinator.h"
#include "coordinator/types.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task {


GraphSpec FromProto(const v1::GraphSpec& in);
// Moves the strings out of `in`.
TaskSpec FromProto(v1::TaskSpec&& in);
AttemptOutcome FromProto(const v1::AttemptResult& in);
WorkerRegistration FromProto(const v1::Register& in);
// Moves the bytes out of `in`; nullopt for a chunk of no known stream.
std::optional<OutputChunk> FromProto(v1::OutputChunk&& in);

void ToProto(const GraphView& in, v1::Graph& out);
void ToProto(const GraphSummaryView& in, v1::GraphSummary& out);
void ToProto(const TaskEvent& in, v1::GraphEvent& out);
void ToProto(const Assignment& in, v1::Assignment& out);
void ToProto(const WorkerView& in, v1::WorkerInfo& out);
void ToProto(const LogsView& in, v1::GetLogsResponse& out);
// INVALID_ARGUMENT for a malformed graph id.
absl::StatusOr<LogsQuery> FromProto(const v1::GetLogsRequest& in);

// Graph ids are decimal on the wire. NOT_FOUND for anything else, so a typo
// reads like an unknown graph.
absl::StatusOr<GraphId> ParseGraphId(const std::string& id);
std::string FormatGraphId(GraphId id);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_PROTO_CONVERT_H_
