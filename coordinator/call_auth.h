// The gRPC side of the Authenticator: reads a call's `authorization`
// metadata and its peer.
#ifndef VITTE_COORDINATOR_CALL_AUTH_H_
#define VITTE_COORDINATOR_CALL_AUTH_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/auth.h"

namespace grpc {
class CallbackServerContext;
}

namespace vitte::task {

// See Authenticator::Authorize.
absl::StatusOr<Caller> AuthorizeCall(Authenticator& auth,
                                     const grpc::CallbackServerContext& ctx,
                                     absl::string_view service,
                                     absl::string_view method);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_CALL_AUTH_H_
