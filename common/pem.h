// Reads the PEM files named by the TLS flags of the gRPC port (common/tls.h)
// and of the HTTP listener (common/http_server.h), with errors that name
// the flag and the file. No gRPC, no OpenSSL.
#ifndef VITTE_COMMON_PEM_H_
#define VITTE_COMMON_PEM_H_

#include <string>

#include "absl/status/statusor.h"

namespace vitte::task {

// The contents of the PEM file given to `flag`. The TLS libraries would
// take garbage and fail later with a message that names neither, so this
// checks that it at least holds a block of the expected `kind`
// ("CERTIFICATE", "PRIVATE KEY"). NOT_FOUND when the file cannot be read,
// INVALID_ARGUMENT when it holds no such block.
absl::StatusOr<std::string> ReadPem(const std::string& flag,
                                    const std::string& path,
                                    const std::string& kind);

}  // namespace vitte::task

#endif  // VITTE_COMMON_PEM_H_
