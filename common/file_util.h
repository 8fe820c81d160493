// Small file helpers shared by the daemons' main()s.
#ifndef VITTE_COMMON_FILE_UTIL_H_
#define VITTE_COMMON_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vitte::task {

// The whole content of the file at `path`. NOT_FOUND (or UNAVAILABLE for
// another error) with the path and the system's reason.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `content` to `path` through a temporary file renamed over it, so
// that a reader (a test polling a port file) never sees a partial file.
// UNAVAILABLE names the path when it cannot be written.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& content);

}  // namespace vitte::task

#endif  // VITTE_COMMON_FILE_UTIL_H_
