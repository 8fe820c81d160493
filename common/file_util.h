// Small file helpers shared by the daemons' main()s.
#ifndef VITTE_COMMON_FILE_UTIL_H_
#define VITTE_COMMON_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"

namespace vitte::task {

// Writes `content` to `path` through a temporary file renamed over it, so
// that a reader (a test polling a port file) never sees a partial file.
// UNAVAILABLE names the path when it cannot be written.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& content);

}  // namespace vitte::task

#endif  // VITTE_COMMON_FILE_UTIL_H_
