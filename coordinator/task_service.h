// TaskService: the client-facing gRPC service. Thin: each method converts
// the request, calls the Coordinator, converts the answer.
#ifndef VITTE_COORDINATOR_TASK_SERVICE_H_
#define VITTE_COORDINATOR_TASK_SERVICE_H_

#include "coordinator/coordinator.h"
#include "vitte/task/v1/task.grpc.pb.h"

namespace vitte::task {

// Thread-safe.
class TaskServiceImpl final : public v1::TaskService::CallbackService {
 public:
  explicit TaskServiceImpl(Coordinator& coordinator)
      : coordinator_(coordinator) {}

  grpc::ServerUnaryReactor* SubmitGraph(grpc::CallbackServerContext* ctx,
                                        const v1::SubmitGraphRequest* request,
                                        v1::SubmitGraphResponse* response) override;
  grpc::ServerUnaryReactor* GetGraph(grpc::CallbackServerContext* ctx,
                                     const v1::GetGraphRequest* request,
                                     v1::Graph* response) override;
  grpc::ServerUnaryReactor* ListGraphs(grpc::CallbackServerContext* ctx,
                                       const v1::ListGraphsRequest* request,
                                       v1::ListGraphsResponse* response) override;
  grpc::ServerUnaryReactor* CancelGraph(grpc::CallbackServerContext* ctx,
                                        const v1::CancelGraphRequest* request,
                                        v1::CancelGraphResponse* response) override;
  grpc::ServerUnaryReactor* RetryGraph(grpc::CallbackServerContext* ctx,
                                       const v1::RetryGraphRequest* request,
                                       v1::RetryGraphResponse* response) override;
  grpc::ServerWriteReactor<v1::GraphEvent>* WatchGraph(
      grpc::CallbackServerContext* ctx,
      const v1::WatchGraphRequest* request) override;
  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* ctx,
                                        const v1::ListWorkersRequest* request,
                                        v1::ListWorkersResponse* response) override;

 private:
  Coordinator& coordinator_;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_TASK_SERVICE_H_
