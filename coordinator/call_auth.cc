#include "coordinator/call_auth.h"

#include <optional>
#include <string>

#include "grpcpp/server_context.h"

namespace vitte::task {

absl::StatusOr<Caller> AuthorizeCall(Authenticator& auth,
                                     const grpc::CallbackServerContext& ctx,
                                     absl::string_view service,
                                     absl::string_view method) {
  if (!auth.require_tokens()) return Caller::Unchecked();
  std::optional<absl::string_view> authorization;
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  return auth.Authorize(authorization, service, method, ctx.peer());
}

}  // namespace vitte::task
