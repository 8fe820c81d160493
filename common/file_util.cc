#include "common/file_util.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace vitte::task {

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& content) {
  std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    if (!out.flush()) {
      return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace vitte::task
