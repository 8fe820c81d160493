#include "common/listen_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vitte::task {

bool IsLoopbackHost(absl::string_view host) {
  std::string h(host);
  if (absl::EqualsIgnoreCase(h, "localhost")) return true;
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    // ::ffff:127.0.0.1 is 127.0.0.1 on a dual-stack socket.
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

std::string ListenHost(absl::string_view address) {
  if (absl::StartsWith(address, "unix:")) return "unix:";
  // gRPC's scheme prefixes for addresses: ipv4:1.2.3.4:80, ipv6:[::1]:80.
  if (absl::StartsWith(address, "ipv4:") || absl::StartsWith(address, "ipv6:")) {
    address.remove_prefix(5);
  }
  if (absl::StartsWith(address, "[")) {
    size_t close = address.find(']');
    if (close == absl::string_view::npos) return "";
    return std::string(address.substr(1, close - 1));
  }
  size_t colon = address.find(':');
  // No port, or a bare IPv6 address whose port cannot be told apart.
  if (colon == absl::string_view::npos ||
      address.find(':', colon + 1) != absl::string_view::npos) {
    return "";
  }
  return std::string(address.substr(0, colon));
}

absl::StatusOr<ListenVerdict> CheckListenAddress(
    absl::string_view flag, absl::string_view address,
    const ListenProtection& protection) {
  if (address.empty()) return ListenVerdict::kLoopback;
  std::string host = ListenHost(address);
  if (host == "unix:" || IsLoopbackHost(host)) return ListenVerdict::kLoopback;
  if (protection.tls && protection.authenticated) {
    return ListenVerdict::kProtected;
  }
  if (protection.insecure) return ListenVerdict::kInsecure;
  // Whoever reaches an unprotected gRPC port can have the workers run any
  // command, and the HTTP one shows every task's command and output: say
  // so, and name the ways out.
  return absl::FailedPreconditionError(absl::StrCat(
      flag, " ", address, " is not a loopback address and would be served ",
      !protection.tls ? "without TLS" : "without tokens",
      ": anyone who can reach it could see or run tasks. Listen on "
      "127.0.0.1, serve TLS (",
      protection.tls_flags,
      ") and require tokens (--auth tokens), or give --insecure to serve it "
      "anyway"));
}

}  // namespace vitte::task
