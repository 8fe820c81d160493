#include "common/tls.h"

#include <cstdlib>
#include <iostream>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/bearer_token.h"
#include "common/flags.h"
#include "common/listen_policy.h"
#include "common/pem.h"

namespace vitte::task {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together: give both or neither");
  }
  if (!tls.enabled()) {
    if (!tls.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca needs TLS: give --tls-cert and --tls-key too");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions options;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  auto cert = ReadPem("--tls-cert", tls.cert_file, "CERTIFICATE");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem("--tls-key", tls.key_file, "PRIVATE KEY");
  if (!key.ok()) return key.status();
  pair.cert_chain = *std::move(cert);
  pair.private_key = *std::move(key);
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!tls.client_ca_file.empty()) {
    auto ca = ReadPem("--tls-client-ca", tls.client_ca_file, "CERTIFICATE");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
    // One port serves workers and clients, so mTLS applies to both: a
    // caller without a certificate from this CA fails the handshake.
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    options.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(options);
}

namespace {

std::shared_ptr<grpc::Channel> CreateChannel(
    const std::string& target,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const grpc::ChannelArguments& args, const std::string& token) {
  if (token.empty()) return grpc::CreateCustomChannel(target, credentials, args);
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(BearerTokenInterceptor(token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      target, credentials, args, std::move(interceptors));
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& target, const ClientTlsOptions& tls,
    grpc::ChannelArguments args, const std::string& token) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together: give both or neither");
  }
  if (!tls.enabled()) {
    if (!tls.cert_file.empty() || !tls.server_name.empty()) {
      return absl::InvalidArgumentError(
          "--tls-cert, --tls-key and --tls-server-name need --tls-ca (the CA "
          "that signed the coordinator's certificate)");
    }
    if (!token.empty() && !IsLoopbackHost(ListenHost(target))) {
      // The daemon refuses tokens in clear off loopback unless --insecure;
      // a token sent there (a typo, a spoofed name) is as good as given.
      std::cerr << "warning: sending a token to " << target
                << " in plain text; give --tls-ca to speak TLS\n";
    }
    return CreateChannel(target, grpc::InsecureChannelCredentials(), args,
                         token);
  }
  grpc::SslCredentialsOptions options;
  auto ca = ReadPem("--tls-ca", tls.ca_file, "CERTIFICATE");
  if (!ca.ok()) return ca.status();
  options.pem_root_certs = *std::move(ca);
  if (!tls.cert_file.empty()) {
    auto cert = ReadPem("--tls-cert", tls.cert_file, "CERTIFICATE");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem("--tls-key", tls.key_file, "PRIVATE KEY");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  if (!tls.server_name.empty()) {
    args.SetSslTargetNameOverride(tls.server_name);
  }
  return CreateChannel(target, grpc::SslCredentials(options), args, token);
}

absl::Status ExplainTlsFailure(absl::Status status,
                               const ClientTlsOptions& tls) {
  if (!tls.enabled() || !absl::IsUnavailable(status)) return status;
  const std::string message = absl::AsciiStrToLower(status.message());
  if (absl::StrContains(message, "handshake") ||
      absl::StrContains(message, "certificate")) {
    return absl::UnavailableError(absl::StrCat(
        "TLS handshake failed (does --tls-ca hold the CA that signed the "
        "coordinator's certificate, and does that certificate name the "
        "address, or --tls-server-name?): ",
        status.message()));
  }
  // With TLS 1.3 the server checks our certificate after the client has
  // finished its part of the handshake, so a refusal reaches us as a closed
  // socket, indistinguishable from other closes: say "maybe".
  if (tls.cert_file.empty() && absl::StrContains(message, "socket closed")) {
    return absl::UnavailableError(absl::StrCat(
        "the coordinator closed the connection; if it requires client "
        "certificates (--tls-client-ca), give --tls-cert and --tls-key: ",
        status.message()));
  }
  return status;
}

void AddClientTlsFlags(FlagParser& flags, ClientTlsOptions& options,
                       bool env_defaults) {
  auto help = [&](std::string text, const char* env) {
    return env_defaults ? absl::StrCat(text, " (default: $", env, ")") : text;
  };
  flags.AddString("tls-ca", &options.ca_file,
                  help("PEM CA that signed the coordinator's certificate: "
                       "connect with TLS and verify it",
                       "VITTE_TLS_CA"));
  flags.AddString("tls-cert", &options.cert_file,
                  help("PEM certificate of this side, for a coordinator that "
                       "wants one (--tls-client-ca); needs --tls-key and "
                       "--tls-ca",
                       "VITTE_TLS_CERT"));
  flags.AddString("tls-key", &options.key_file,
                  help("PEM private key of --tls-cert", "VITTE_TLS_KEY"));
  flags.AddString("tls-server-name", &options.server_name,
                  help("name to expect in the coordinator's certificate when "
                       "it is not the host of --coordinator",
                       "VITTE_TLS_SERVER_NAME"));
}

void ReadClientTlsEnv(ClientTlsOptions& options) {
  const std::pair<const char*, std::string*> from_env[] = {
      {"VITTE_TLS_CA", &options.ca_file},
      {"VITTE_TLS_CERT", &options.cert_file},
      {"VITTE_TLS_KEY", &options.key_file},
      {"VITTE_TLS_SERVER_NAME", &options.server_name},
  };
  for (const auto& [name, value] : from_env) {
    if (const char* env = std::getenv(name); env && *env) *value = env;
  }
}

}  // namespace vitte::task
