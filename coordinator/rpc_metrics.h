// Counts of the gRPC calls vitte-taskd finished, by service, method and
// status code (vitte_grpc_server_handled_total).
#ifndef VITTE_COORDINATOR_RPC_METRICS_H_
#define VITTE_COORDINATOR_RPC_METRICS_H_

#include <grpcpp/support/status.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/metrics.h"

namespace vitte::task {

// Thread-safe. `registry` must outlive it.
class RpcMetrics {
 public:
  // Creates the OK series of every method of `services` (full names, e.g.
  // "vitte.task.v1.TaskService"), so that they read 0 before the first call.
  RpcMetrics(MetricsRegistry& registry,
             const std::vector<std::string>& services);

  // A call to `method` (e.g. "SubmitGraph") of `service` (full name)
  // finished with `code`. Takes the family's lock (calls are far rarer than
  // task transitions).
  void Handled(absl::string_view service, absl::string_view method,
               grpc::StatusCode code);

 private:
  CounterFamily& handled_;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_RPC_METRICS_H_
