// The client side of bearer tokens (see the proto's header): reading one
// from a file, and sending it on every call of a channel.
#ifndef VITTE_COMMON_BEARER_TOKEN_H_
#define VITTE_COMMON_BEARER_TOKEN_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/flags.h"

namespace grpc::experimental {
class ClientInterceptorFactoryInterface;
}

namespace vitte::task {

// Adds --token-file, filling `path`. With `env_defaults`, the help says
// that $VITTE_TOKEN_FILE (or $VITTE_TOKEN, the token itself) gives the
// default (see LoadClientToken). A token is never taken on the command
// line, where `ps` would show it to every user of the machine.
void AddTokenFileFlag(FlagParser& flags, std::string& path, bool env_defaults);

// The token to send: the content of `path` (surrounding whitespace
// dropped) when given; else, with `use_env`, that of $VITTE_TOKEN_FILE,
// else $VITTE_TOKEN; else "" (no token). NOT_FOUND or INVALID_ARGUMENT
// name the file (an empty one, or one of several lines), never its
// content. A file that others than its owner may read is used, with a
// warning on stderr: the token lets them act as its holder.
absl::StatusOr<std::string> LoadClientToken(const std::string& path,
                                            bool use_env);

// An interceptor that adds `authorization: Bearer <token>` to every call.
// gRPC's call credentials would do the same but refuse plain-text
// channels, which a loopback daemon with tokens is.
std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>
BearerTokenInterceptor(std::string token);

}  // namespace vitte::task

#endif  // VITTE_COMMON_BEARER_TOKEN_H_
