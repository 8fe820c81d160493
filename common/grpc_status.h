// The one place where absl::Status and grpc::Status meet. Codes map one to
// one (both follow google.rpc.Code).
#ifndef VITTE_COMMON_GRPC_STATUS_H_
#define VITTE_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace vitte::task {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace vitte::task

#endif  // VITTE_COMMON_GRPC_STATUS_H_
