#include "tests/integration/http_get.h"

#include <httplib.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace vitte::task::integration {

absl::StatusOr<HttpReply> HttpGet(
    int port, const std::string& path, absl::Duration timeout,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  httplib::Client client("127.0.0.1", port);
  const auto micros = absl::ToInt64Microseconds(timeout);
  client.set_connection_timeout(micros / 1'000'000, micros % 1'000'000);
  client.set_read_timeout(micros / 1'000'000, micros % 1'000'000);
  httplib::Headers sent;
  for (const auto& [name, value] : headers) sent.emplace(name, value);
  httplib::Result res = client.Get(path, sent);
  if (!res) {
    return absl::UnavailableError(absl::StrCat(
        "GET 127.0.0.1:", port, path, ": ", httplib::to_string(res.error())));
  }
  return HttpReply{res->status, res->get_header_value("Content-Type"),
                   res->body};
}

}  // namespace vitte::task::integration
