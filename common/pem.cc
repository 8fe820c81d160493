#include "common/pem.h"

#include <errno.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vitte::task {

absl::StatusOr<std::string> ReadPem(const std::string& flag,
                                    const std::string& path,
                                    const std::string& kind) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string why = std::strerror(errno);
    return absl::NotFoundError(
        absl::StrCat(flag, ": cannot read \"", path, "\": ", why));
  }
  std::stringstream content;
  content << in.rdbuf();
  std::string pem = content.str();
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
