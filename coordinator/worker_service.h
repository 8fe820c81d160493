// WorkerService: one bidirectional stream per worker session. Thin: the
// reactor turns stream messages into Coordinator calls and the
// coordinator's WorkerConnection calls into stream writes.
#ifndef VITTE_COORDINATOR_WORKER_SERVICE_H_
#define VITTE_COORDINATOR_WORKER_SERVICE_H_

#include "coordinator/auth.h"
#include "coordinator/coordinator.h"
#include "coordinator/rpc_metrics.h"
#include "vitte/task/v1/task.grpc.pb.h"

namespace vitte::task {

// Thread-safe.
class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  // Each call is checked by `auth`, and counted in `rpc` once finished.
  // All three must outlive the service.
  WorkerServiceImpl(Coordinator& coordinator, Authenticator& auth,
                    RpcMetrics& rpc)
      : coordinator_(coordinator), auth_(auth), rpc_(rpc) {}

  grpc::ServerBidiReactor<v1::WorkerMessage, v1::CoordinatorMessage>* Connect(
      grpc::CallbackServerContext* ctx) override;

 private:
  Coordinator& coordinator_;
  Authenticator& auth_;
  RpcMetrics& rpc_;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_WORKER_SERVICE_H_
