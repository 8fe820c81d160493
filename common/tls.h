// TLS for the gRPC port, in one place for the daemon, the worker and the
// CLI: reads the PEM files named by the --tls-* flags (errors name the flag
// and the file) and builds gRPC credentials from them.
#ifndef VITTE_COMMON_TLS_H_
#define VITTE_COMMON_TLS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grpc {
class Channel;
class ChannelArguments;
class ServerCredentials;
}  // namespace grpc

namespace vitte::task {

class FlagParser;  // common/flags.h

// vitte-taskd's side. All empty: plain text.
struct ServerTlsOptions {
  std::string cert_file;  // --tls-cert: the server's chain, PEM
  std::string key_file;   // --tls-key: its private key, PEM
  // --tls-client-ca: when set, every caller (workers and CLI alike: they
  // share the port) must present a certificate signed by this CA.
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty(); }
};

// The worker's and the CLI's side. ca_file empty: plain text.
struct ClientTlsOptions {
  std::string ca_file;    // --tls-ca: verifies the coordinator's certificate
  std::string cert_file;  // --tls-cert: this side's certificate, for mTLS
  std::string key_file;   // --tls-key
  // --tls-server-name: the name checked in the coordinator's certificate,
  // when it differs from the host of the address (e.g. an IP address
  // reached through a tunnel).
  std::string server_name;

  bool enabled() const { return !ca_file.empty(); }
};

// Adds --tls-ca, --tls-cert, --tls-key and --tls-server-name, filling
// `options` (which must outlive the parse). With `env_defaults`, the help
// says that $VITTE_TLS_CA and the like give the defaults (the caller reads
// them; see ReadClientTlsEnv).
void AddClientTlsFlags(FlagParser& flags, ClientTlsOptions& options,
                       bool env_defaults);
// Sets each field of `options` whose $VITTE_TLS_* variable is set.
void ReadClientTlsEnv(ClientTlsOptions& options);

// Credentials for ServerBuilder::AddListeningPort: insecure ones when TLS
// is off. INVALID_ARGUMENT for flags that do not go together (a key without
// a certificate, --tls-client-ca without --tls-cert); NOT_FOUND or
// INVALID_ARGUMENT naming the flag and the file that cannot be read or
// holds no PEM.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& tls);

// A channel to `target` with `args`, speaking TLS when tls.enabled(). Errors
// as for MakeServerCredentials. The channel connects lazily: a certificate
// that does not verify shows up as UNAVAILABLE on the first call (see
// ExplainTlsFailure). With a `token`, every call carries it (see
// common/bearer_token.h).
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& target, const ClientTlsOptions& tls,
    grpc::ChannelArguments args, const std::string& token = "");

// `status` (of a call on a channel made with `tls`) with a hint added when
// it is gRPC's report of a failed TLS handshake, whose own words do not say
// what to check: "Ssl handshake failed: ... certificate verify failed" (not
// our CA), "Peer name X is not in peer certificate" (not our name), or,
// with TLS but no certificate of ours, "Socket closed" (what a coordinator
// that requires one does to us). Any other status unchanged.
absl::Status ExplainTlsFailure(absl::Status status, const ClientTlsOptions& tls);

}  // namespace vitte::task

#endif  // VITTE_COMMON_TLS_H_
