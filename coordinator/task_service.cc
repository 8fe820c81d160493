#include "coordinator/task_service.h"

#include <malloc.h>

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "coordinator/call_auth.h"
#include "coordinator/event_stream.h"
#include "coordinator/proto_convert.h"
#include "coordinator/submit_parser.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "spdlog/spdlog.h"

namespace vitte::task {
namespace {

constexpr absl::string_view kService = v1::TaskService::service_full_name();

// Ends a unary call of `method`, counting it.
grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx,
                               const absl::Status& status, RpcMetrics& rpc,
                               absl::string_view method) {
  grpc::Status answer = ToGrpcStatus(status);
  rpc.Handled(kService, method, answer.error_code());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(answer));
  return reactor;
}

// Parses a raw request. INVALID_ARGUMENT names the message type when the
// bytes do not parse.
template <typename Request>
absl::Status ParseRequest(const grpc::ByteBuffer& raw, Request& request) {
  grpc::ByteBuffer copy(raw);  // Deserialize consumes its input
  if (!grpc::SerializationTraits<Request>::Deserialize(&copy, &request).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed ", Request::descriptor()->full_name(),
                     ": the request does not parse"));
  }
  return absl::OkStatus();
}

template <typename Response>
absl::Status Serialize(const Response& response, grpc::ByteBuffer& raw) {
  bool own_buffer = false;
  return FromGrpcStatus(grpc::SerializationTraits<Response>::Serialize(
      response, &raw, &own_buffer));
}

// Parses the request, runs `handler`, serialises its answer.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* Unary(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response, TaskServiceImpl* service,
    absl::Status (TaskServiceImpl::*handler)(const Caller&, const Request&,
                                             Response&),
    Authenticator& auth, RpcMetrics& rpc, absl::string_view method) {
  absl::StatusOr<Caller> caller =
      AuthorizeCall(auth, *ctx, kService, method);
  if (!caller.ok()) return Done(ctx, caller.status(), rpc, method);
  Request request;
  if (absl::Status parsed = ParseRequest(*raw_request, request); !parsed.ok()) {
    return Done(ctx, parsed, rpc, method);
  }
  Response response;
  absl::Status status = (service->*handler)(*caller, request, response);
  if (status.ok()) status = Serialize(response, *raw_response);
  return Done(ctx, status, rpc, method);
}

}  // namespace

absl::Status TaskServiceImpl::Submit(const Caller& caller,
                                     const grpc::ByteBuffer& raw,
                                     v1::SubmitGraphResponse& response) {
  absl::StatusOr<SubmitRequest> request;
  {
    grpc::ByteBuffer copy(raw);  // shares the slices; the reader consumes it
    grpc::ProtoBufferReader reader(&copy);
    request = ParseSubmitRequest(reader, coordinator_.options().limits);
  }
  if (!request.ok()) return request.status();
  const size_t tasks = request->spec.tasks.size();
  // Request ids are per token name (which holds no '/'): another token
  // cannot take one ahead of CI's, and have CI's submit answer with its
  // graph.
  std::string request_id = std::move(request->request_id);
  if (!request_id.empty() && !caller.name.empty()) {
    request_id = absl::StrCat(caller.name, "/", request_id);
  }
  absl::StatusOr<SubmitResult> submitted = coordinator_.Submit(
      std::move(request->spec), std::move(request_id), caller.name);
  // Accepting a big graph frees hundreds of megabytes of parse and
  // validation buffers; hand them back to the system rather than keep the
  // peak resident for the life of the daemon.
  if (tasks >= 100'000) malloc_trim(0);
  ASSIGN_OR_RETURN(SubmitResult result, std::move(submitted));
  response.set_graph_id(FormatGraphId(result.graph_id));
  response.set_created(result.created);
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::Get(const Caller& /*caller*/,
                                  const v1::GetGraphRequest& request,
                                  v1::Graph& response) {
  ASSIGN_OR_RETURN(GraphId id, ParseGraphId(request.graph_id()));
  if (request.summary_only()) {
    ASSIGN_OR_RETURN(GraphSummaryView summary, coordinator_.GetGraphSummary(id));
    ToProto(summary, *response.mutable_summary());
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(GraphView view,
                   coordinator_.GetGraph(id, request.include_attempts()));
  ToProto(view, response);
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::List(const Caller& /*caller*/,
                                   const v1::ListGraphsRequest& request,
                                   v1::ListGraphsResponse& response) {
  int limit = request.limit() <= 0 ? 100 : std::min(request.limit(), 10'000);
  ASSIGN_OR_RETURN(auto graphs, coordinator_.ListGraphs(limit));
  for (const GraphSummaryView& g : graphs) ToProto(g, *response.add_graphs());
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::CheckMayChange(const Caller& caller, GraphId id,
                                             absl::string_view what) {
  if (caller.role != Role::kAdmin) {
    ASSIGN_OR_RETURN(GraphSummaryView graph, coordinator_.GetGraphSummary(id));
    RETURN_IF_ERROR(
        CheckMayChangeGraph(caller, graph.record.owner, FormatGraphId(id)));
  }
  // Who changed what, for the audit trail (the decision log says what
  // followed).
  if (!caller.name.empty()) {
    spdlog::info("graph {}: {} asked by token \"{}\"", id, std::string(what),
                 caller.name);
  }
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::Cancel(const Caller& caller,
                                     const v1::CancelGraphRequest& request,
                                     v1::CancelGraphResponse& response) {
  ASSIGN_OR_RETURN(GraphId id, ParseGraphId(request.graph_id()));
  RETURN_IF_ERROR(CheckMayChange(caller, id, "cancel"));
  ASSIGN_OR_RETURN(int64_t cancelled,
                   coordinator_.Cancel(id, {request.task_ids().begin(),
                                            request.task_ids().end()}));
  response.set_cancelled(cancelled);
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::Retry(const Caller& caller,
                                    const v1::RetryGraphRequest& request,
                                    v1::RetryGraphResponse& response) {
  ASSIGN_OR_RETURN(GraphId id, ParseGraphId(request.graph_id()));
  RETURN_IF_ERROR(CheckMayChange(caller, id, "retry"));
  ASSIGN_OR_RETURN(int64_t retried, coordinator_.Retry(id));
  response.set_retried(retried);
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::Workers(const Caller& /*caller*/,
                                      const v1::ListWorkersRequest& /*request*/,
                                      v1::ListWorkersResponse& response) {
  for (const WorkerView& w : coordinator_.ListWorkers()) {
    ToProto(w, *response.add_workers());
  }
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::Logs(const Caller& /*caller*/,
                                   const v1::GetLogsRequest& request,
                                   v1::GetLogsResponse& response) {
  ASSIGN_OR_RETURN(LogsQuery query, FromProto(request));
  ASSIGN_OR_RETURN(LogsView view, coordinator_.GetLogs(query));
  ToProto(view, response);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* TaskServiceImpl::SubmitGraph(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  v1::SubmitGraphResponse answer;
  absl::StatusOr<Caller> caller =
      AuthorizeCall(auth_, *ctx, kService, "SubmitGraph");
  absl::Status status =
      caller.ok() ? Submit(*caller, *request, answer) : caller.status();
  if (status.ok()) status = Serialize(answer, *response);
  return Done(ctx, status, rpc_, "SubmitGraph");
}
grpc::ServerUnaryReactor* TaskServiceImpl::GetGraph(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::Get, auth_,
               rpc_, "GetGraph");
}
grpc::ServerUnaryReactor* TaskServiceImpl::ListGraphs(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::List, auth_,
               rpc_, "ListGraphs");
}
grpc::ServerUnaryReactor* TaskServiceImpl::CancelGraph(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::Cancel, auth_,
               rpc_, "CancelGraph");
}
grpc::ServerUnaryReactor* TaskServiceImpl::RetryGraph(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::Retry, auth_,
               rpc_, "RetryGraph");
}
grpc::ServerUnaryReactor* TaskServiceImpl::ListWorkers(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::Workers, auth_,
               rpc_, "ListWorkers");
}

namespace {

// The graph a stream follows: "" (every graph) only where `any_allowed`.
absl::StatusOr<FollowTarget> ParseFollowTarget(const std::string& graph_id,
                                               bool any_allowed) {
  FollowTarget target;
  if (graph_id.empty() && any_allowed) return target;
  ASSIGN_OR_RETURN(target.graph_id, ParseGraphId(graph_id));
  return target;
}

}  // namespace

grpc::ServerUnaryReactor* TaskServiceImpl::GetLogs(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::Logs, auth_,
               rpc_, "GetLogs");
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::WatchGraph(
    grpc::CallbackServerContext* ctx, const Raw* raw_request) {
  absl::StatusOr<Caller> caller =
      AuthorizeCall(auth_, *ctx, kService, "WatchGraph");
  v1::WatchGraphRequest request;
  absl::Status parsed =
      caller.ok() ? ParseRequest(*raw_request, request) : caller.status();
  return NewEventStream(
      coordinator_, auth_, caller,
      parsed.ok() ? ParseFollowTarget(request.graph_id(), /*any_allowed=*/false)
                  : parsed,
      EventFraming::kOnePerMessage, rpc_, "WatchGraph");
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::FollowEvents(
    grpc::CallbackServerContext* ctx, const Raw* raw_request) {
  absl::StatusOr<Caller> caller =
      AuthorizeCall(auth_, *ctx, kService, "FollowEvents");
  v1::FollowEventsRequest request;
  absl::Status parsed =
      caller.ok() ? ParseRequest(*raw_request, request) : caller.status();
  absl::StatusOr<FollowTarget> target =
      parsed.ok() ? ParseFollowTarget(request.graph_id(), /*any_allowed=*/true)
                  : parsed;
  if (target.ok()) target->after = request.after_sequence();
  return NewEventStream(coordinator_, auth_, caller, std::move(target),
                        EventFraming::kBatches, rpc_, "FollowEvents");
}

}  // namespace vitte::task
