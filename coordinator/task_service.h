// TaskService: the client-facing gRPC service. Thin: each method converts
// the request, calls the Coordinator, converts the answer.
#ifndef VITTE_COORDINATOR_TASK_SERVICE_H_
#define VITTE_COORDINATOR_TASK_SERVICE_H_

#include "coordinator/auth.h"
#include "coordinator/coordinator.h"
#include "coordinator/rpc_metrics.h"
#include "vitte/task/v1/task.grpc.pb.h"

namespace vitte::task {

// The generated service with every method taken raw (as bytes): the
// service parses requests itself, so that a malformed one gets
// INVALID_ARGUMENT naming the message (gRPC 1.51's typed callback handlers
// answer UNIMPLEMENTED with no message).
using TaskServiceBase = v1::TaskService::WithRawCallbackMethod_SubmitGraph<
    v1::TaskService::WithRawCallbackMethod_GetGraph<
        v1::TaskService::WithRawCallbackMethod_ListGraphs<
            v1::TaskService::WithRawCallbackMethod_CancelGraph<
                v1::TaskService::WithRawCallbackMethod_RetryGraph<
                    v1::TaskService::WithRawCallbackMethod_ListWorkers<
                        v1::TaskService::WithRawCallbackMethod_WatchGraph<
                            v1::TaskService::WithRawCallbackMethod_FollowEvents<
                                v1::TaskService::WithRawCallbackMethod_GetLogs<
                                    v1::TaskService::Service>>>>>>>>>;

// Thread-safe.
class TaskServiceImpl final : public TaskServiceBase {
 public:
  // Each call is checked by `auth`, and counted in `rpc` once finished.
  // All three must outlive the service.
  TaskServiceImpl(Coordinator& coordinator, Authenticator& auth,
                  RpcMetrics& rpc)
      : coordinator_(coordinator), auth_(auth), rpc_(rpc) {}

  using Raw = grpc::ByteBuffer;
  grpc::ServerUnaryReactor* SubmitGraph(grpc::CallbackServerContext* ctx,
                                        const Raw* request,
                                        Raw* response) override;
  grpc::ServerUnaryReactor* GetGraph(grpc::CallbackServerContext* ctx,
                                     const Raw* request, Raw* response) override;
  grpc::ServerUnaryReactor* ListGraphs(grpc::CallbackServerContext* ctx,
                                       const Raw* request,
                                       Raw* response) override;
  grpc::ServerUnaryReactor* CancelGraph(grpc::CallbackServerContext* ctx,
                                        const Raw* request,
                                        Raw* response) override;
  grpc::ServerUnaryReactor* RetryGraph(grpc::CallbackServerContext* ctx,
                                       const Raw* request,
                                       Raw* response) override;
  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* ctx,
                                        const Raw* request,
                                        Raw* response) override;
  grpc::ServerUnaryReactor* GetLogs(grpc::CallbackServerContext* ctx,
                                    const Raw* request, Raw* response) override;
  grpc::ServerWriteReactor<Raw>* WatchGraph(grpc::CallbackServerContext* ctx,
                                            const Raw* request) override;
  grpc::ServerWriteReactor<Raw>* FollowEvents(grpc::CallbackServerContext* ctx,
                                              const Raw* request) override;

 private:
  // Reads the request itself (ParseSubmitRequest): see submit_parser.h.
  // The caller is authorised for the method already; Cancel and Retry
  // still check whose graph it is (CheckMayChange).
  absl::Status Submit(const Caller& caller, const grpc::ByteBuffer& request,
                      v1::SubmitGraphResponse& response);
  absl::Status Get(const Caller& caller, const v1::GetGraphRequest& request,
                   v1::Graph& response);
  absl::Status List(const Caller& caller, const v1::ListGraphsRequest& request,
                    v1::ListGraphsResponse& response);
  absl::Status Cancel(const Caller& caller,
                      const v1::CancelGraphRequest& request,
                      v1::CancelGraphResponse& response);
  absl::Status Retry(const Caller& caller, const v1::RetryGraphRequest& request,
                     v1::RetryGraphResponse& response);
  absl::Status Workers(const Caller& caller,
                       const v1::ListWorkersRequest& request,
                       v1::ListWorkersResponse& response);
  absl::Status Logs(const Caller& caller, const v1::GetLogsRequest& request,
                    v1::GetLogsResponse& response);
  // OK when `caller` may cancel or retry graph `id` (see
  // CheckMayChangeGraph); NOT_FOUND for an unknown graph. Logs who asked
  // for `what` ("cancel", "retry").
  absl::Status CheckMayChange(const Caller& caller, GraphId id,
                              absl::string_view what);

  Coordinator& coordinator_;
  Authenticator& auth_;
  RpcMetrics& rpc_;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_TASK_SERVICE_H_
