#include "common/pem.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace vitte::task {

absl::StatusOr<std::string> ReadPem(const std::string& flag,
                                    const std::string& path,
                                    const std::string& kind) {
  absl::StatusOr<std::string> content = ReadFile(path);
  if (!content.ok()) {
    return absl::Status(content.status().code(),
                        absl::StrCat(flag, ": ", content.status().message()));
  }
  const std::string& pem = *content;
  size_t begin = pem.find("-----BEGIN ");
  size_t line_end =
      pem.find("-----", begin == std::string::npos ? 0 : begin + 11);
  if (begin == std::string::npos || line_end == std::string::npos ||
      !absl::StrContains(pem.substr(begin, line_end - begin), kind)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", path, "\" holds no PEM ", kind,
                     " (a block starting \"-----BEGIN ... ", kind, "-----\")"));
  }
  return pem;
}

}  // namespace vitte::task
