// GET over HTTP from the daemon's metrics/dashboard listener, for tests.
#ifndef VITTE_TESTS_INTEGRATION_HTTP_GET_H_
#define VITTE_TESTS_INTEGRATION_HTTP_GET_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vitte::task::integration {

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

// UNAVAILABLE when no answer came within `timeout`.
// `headers` are sent with the request (e.g. {"Authorization", "Bearer ..."}).
absl::StatusOr<HttpReply> HttpGet(
    int port, const std::string& path,
    absl::Duration timeout = absl::Seconds(10),
    const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace vitte::task::integration

#endif  // VITTE_TESTS_INTEGRATION_HTTP_GET_H_
