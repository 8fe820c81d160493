// WorkerService: one bidirectional stream per worker session. Thin: the
// reactor turns stream messages into Coordinator calls and the
// coordinator's WorkerConnection calls into stream writes.
#ifndef VITTE_COORDINATOR_WORKER_SERVICE_H_
#define VITTE_COORDINATOR_WORKER_SERVICE_H_

#include "coordinator/coordinator.h"
#include "vitte/task/v1/task.grpc.pb.h"

namespace vitte::task {

// Thread-safe.
class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  explicit WorkerServiceImpl(Coordinator& coordinator)
      : coordinator_(coordinator) {}

  grpc::ServerBidiReactor<v1::WorkerMessage, v1::CoordinatorMessage>* Connect(
      grpc::CallbackServerContext* ctx) override;

 private:
  Coordinator& coordinator_;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_WORKER_SERVICE_H_
