#include "common/http_server.h"

// The one file that includes httplib for serving. HTTPS needs
// CPPHTTPLIB_OPENSSL_SUPPORT, which Debian's pkg-config file for its
// compiled httplib already defines (the library was built with it, and
// every includer must agree, so it is not defined again here).
#include <httplib.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/pem.h"

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#error "httplib without OpenSSL: HttpServer needs httplib::SSLServer"
#endif

namespace vitte::task {
namespace {

// Checks the TLS flags and files before OpenSSL sees them: its own errors
// name neither the flag nor the file.
absl::Status CheckTlsFiles(const HttpTlsOptions& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--http-tls-cert and --http-tls-key go together: give both or "
        "neither");
  }
  if (!tls.enabled()) {
    if (!tls.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--http-tls-client-ca needs TLS: give --http-tls-cert and "
          "--http-tls-key too");
    }
    return absl::OkStatus();
  }
  if (auto s = ReadPem("--http-tls-cert", tls.cert_file, "CERTIFICATE");
      !s.ok()) {
    return s.status();
  }
  if (auto s = ReadPem("--http-tls-key", tls.key_file, "PRIVATE KEY");
      !s.ok()) {
    return s.status();
  }
  if (!tls.client_ca_file.empty()) {
    if (auto s =
            ReadPem("--http-tls-client-ca", tls.client_ca_file, "CERTIFICATE");
        !s.ok()) {
      return s.status();
    }
  }
  return absl::OkStatus();
}

// The plain or TLS server for `tls` (already checked by CheckTlsFiles).
absl::StatusOr<std::unique_ptr<httplib::Server>> MakeServer(
    const HttpTlsOptions& tls) {
  if (!tls.enabled()) return std::make_unique<httplib::Server>();
  ERR_clear_error();
  auto server = std::make_unique<httplib::SSLServer>(
      tls.cert_file.c_str(), tls.key_file.c_str(),
      tls.client_ca_file.empty() ? nullptr : tls.client_ca_file.c_str());
  if (!server->is_valid()) {
    // E.g. a key that is not the certificate's: "key values mismatch".
    char why[256] = "unknown OpenSSL error";
    if (unsigned long e = ERR_peek_last_error(); e != 0) {
      ERR_error_string_n(e, why, sizeof(why));
    }
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot serve HTTPS with --http-tls-cert \"", tls.cert_file,
        "\" and --http-tls-key \"", tls.key_file, "\"",
        tls.client_ca_file.empty()
            ? ""
            : absl::StrCat(" and --http-tls-client-ca \"", tls.client_ca_file,
                           "\""),
        ": ", why));
  }
  return server;
}

// Splits "host:port" or "[v6]:port".
absl::Status SplitHostPort(absl::string_view address, std::string& host,
                           int& port) {
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", address, "' is not host:port"));
  }
  host = std::string(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", address, "' has no host"));
  }
  return absl::OkStatus();
}

}  // namespace

void AddHttpTlsFlags(FlagParser& flags, HttpTlsOptions& options) {
  flags.AddString("http-tls-cert", &options.cert_file,
                  "PEM certificate (chain) for the --metrics-listen port: "
                  "serve HTTPS instead of HTTP (with --http-tls-key)");
  flags.AddString("http-tls-key", &options.key_file,
                  "PEM private key of --http-tls-cert");
  flags.AddString("http-tls-client-ca", &options.client_ca_file,
                  "PEM CA: HTTPS clients must present a certificate it "
                  "signed");
}

HttpServer::HttpServer() = default;

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(std::string pattern, HttpHandler handler) {
  routes_.emplace_back(std::move(pattern), std::move(handler));
}

absl::StatusOr<int> HttpServer::Start(absl::string_view address,
                                      const HttpTlsOptions& tls) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(address, host, port); !s.ok()) return s;
  if (server_ != nullptr) {
    return absl::FailedPreconditionError("HTTP server already started");
  }
  if (absl::Status s = CheckTlsFiles(tls); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<httplib::Server>> server = MakeServer(tls);
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  // httplib's default sets SO_REUSEPORT, which lets a second daemon bind the
  // same port and take half the connections. SO_REUSEADDR alone still
  // allows a restart while old connections sit in TIME_WAIT.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  for (auto& [pattern, handler] : routes_) AddRoute(pattern, handler);
  int bound = port == 0 ? server_->bind_to_any_port(host)
                        : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for HTTP on ", address));
  }
  // The socket already listens: connections made from now on wait in its
  // backlog until the thread accepts them.
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() does nothing until the accept loop runs; wait for it, so that a
  // Stop right after Start cannot leave the thread serving forever.
  for (int i = 0; i < 10000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return bound;
}

void HttpServer::AddRoute(const std::string& pattern,
                          const HttpHandler& handler) {
  server_->Get(
      pattern, [handler](const httplib::Request& req, httplib::Response& res) {
        HttpRequest request;
        request.path = req.path;
        request.raw_path = req.target.substr(0, req.target.find('?'));
        request.authorization = req.get_header_value("Authorization");
        request.peer = absl::StrCat(req.remote_addr, ":", req.remote_port);
        for (const auto& [key, value] : req.params) {
          request.params.try_emplace(key, value);
        }
        for (const auto& m : req.matches) request.matches.push_back(m.str());
        HttpResponse response = handler(request);
        res.status = response.status;
        for (const auto& [name, value] : response.headers) {
          res.set_header(name, value);
        }
        res.set_content(std::move(response.body), response.content_type);
      });
}

void HttpServer::OnStop(std::function<void()> hook) {
  stop_hooks_.push_back(std::move(hook));
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  for (const std::function<void()>& hook : stop_hooks_) hook();
  server_->stop();
  thread_.join();
}

}  // namespace vitte::task
