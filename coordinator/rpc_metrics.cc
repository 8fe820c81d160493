#include "coordinator/rpc_metrics.h"

#include <google/protobuf/descriptor.h>

#include <string>

#include "absl/status/status.h"

namespace vitte::task {

RpcMetrics::RpcMetrics(MetricsRegistry& registry,
                       const std::vector<std::string>& services)
    : handled_(registry.AddCounterFamily(
          "vitte_grpc_server_handled_total",
          "gRPC calls finished by the server, by service, method and status "
          "code.",
          {"grpc_service", "grpc_method", "grpc_code"})) {
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      handled_.WithLabels({name, service->method(i)->name(), "OK"});
    }
  }
}

void RpcMetrics::Handled(absl::string_view service, absl::string_view method,
                         grpc::StatusCode code) {
  // gRPC's codes and names are Abseil's (both follow google.rpc.Code).
  handled_
      .WithLabels(
          {std::string(service), std::string(method),
           absl::StatusCodeToString(static_cast<absl::StatusCode>(code))})
      .Increment();
}

}  // namespace vitte::task
