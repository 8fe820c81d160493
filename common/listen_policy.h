// Whether a daemon may listen on an address, given how the port is
// protected. The one place that rule lives.
#ifndef VITTE_COMMON_LISTEN_POLICY_H_
#define VITTE_COMMON_LISTEN_POLICY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vitte::task {

// How a listener is protected.
struct ListenProtection {
  // The port speaks TLS (gRPC with --tls-cert, HTTPS with --http-tls-cert).
  bool tls = false;
  // The operator said --insecure: serve unprotected on any address.
  bool insecure = false;
  // Every caller must present a token (--auth tokens). Off loopback, a port
  // needs both: TLS alone lets anyone in, and tokens alone travel in clear.
  bool authenticated = false;
  // The flags that turn TLS on for this listener, named by the refusal.
  const char* tls_flags = "--tls-cert and --tls-key";
};

enum class ListenVerdict {
  kLoopback,   // only this machine can connect
  kProtected,  // reachable from the network, and protected
  kInsecure,   // reachable and unprotected, allowed by --insecure: warn
};

// True for a host only this machine reaches: 127.0.0.0/8, ::1 (also as
// ::ffff:127.x.y.z), "localhost". Host names are not resolved: "my-host"
// is not loopback even if /etc/hosts says 127.0.1.1.
bool IsLoopbackHost(absl::string_view host);

// The host part of a listen address: "host:port", "[v6]:port" (without the
// brackets). "unix:PATH" gives "unix:" (see CheckListenAddress). An
// address whose host cannot be told (":7070", "::1:7070") gives "", which
// is never loopback, so that doubt refuses rather than exposes.
std::string ListenHost(absl::string_view address);

// Decides whether `address` (given to `flag`, e.g. "--listen") may be
// listened on. A loopback address (or a unix socket, which file permissions
// guard) always may; any other needs TLS and tokens, or --insecure. FAILED_PRECONDITION
// names the flag, the address and the way out otherwise. An empty address
// (no listener) is kLoopback.
absl::StatusOr<ListenVerdict> CheckListenAddress(
    absl::string_view flag, absl::string_view address,
    const ListenProtection& protection);

}  // namespace vitte::task

#endif  // VITTE_COMMON_LISTEN_POLICY_H_
