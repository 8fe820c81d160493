#include "common/logging.h"

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace vitte::task {

absl::Status SetUpLogging(const std::string& level) {
  spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // from_str maps anything unknown to "off"; only "off" itself means off.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level \"", level,
                     "\" (expected trace, debug, info, warn, error, "
                     "critical or off)"));
  }
  spdlog::set_default_logger(spdlog::stderr_logger_mt("vitte"));
  spdlog::set_level(parsed);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %v");
  spdlog::flush_on(spdlog::level::info);
  return absl::OkStatus();
}

}  // namespace vitte::task
