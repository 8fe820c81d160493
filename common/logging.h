// Logging set-up shared by the daemons and the CLI: spdlog to stderr.
#ifndef VITTE_COMMON_LOGGING_H_
#define VITTE_COMMON_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace vitte::task {

// level: trace, debug, info, warn, error, critical or off.
// INVALID_ARGUMENT for anything else.
absl::Status SetUpLogging(const std::string& level);

}  // namespace vitte::task

#endif  // VITTE_COMMON_LOGGING_H_
