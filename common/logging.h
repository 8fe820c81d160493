// Logging set-up shared by the daemons and the CLI: spdlog to stderr, as
// text for people or as one JSON object per line for log collectors.
#ifndef VITTE_COMMON_LOGGING_H_
#define VITTE_COMMON_LOGGING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"

namespace spdlog {
class formatter;
}  // namespace spdlog

namespace vitte::task {

// level: trace, debug, info, warn, error, critical or off; format: text or
// json. INVALID_ARGUMENT for anything else.
absl::Status SetUpLogging(const std::string& level,
                          const std::string& format = "text");

// The formatter of --log-format json: one object per line, {"time":
// "2026-11-26T01:49:32.123Z", "level": "info", "msg": "..."}, the message
// escaped as JSON.
std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter();

}  // namespace vitte::task

#endif  // VITTE_COMMON_LOGGING_H_
