// A small HTTP(S) server for the daemons' /metrics, dashboard and JSON API.
// Wraps cpp-httplib so that its header (and OpenSSL's, which it pulls in)
// stays in one translation unit.
#ifndef VITTE_COMMON_HTTP_SERVER_H_
#define VITTE_COMMON_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace httplib {
class Server;
}

namespace vitte::task {

class FlagParser;  // common/flags.h

// TLS for the HTTP listener (--metrics-listen). All empty: plain HTTP.
struct HttpTlsOptions {
  std::string cert_file;  // --http-tls-cert: the server's chain, PEM
  std::string key_file;   // --http-tls-key: its private key, PEM
  // --http-tls-client-ca: when set, every client must present a certificate
  // signed by this CA (a browser then needs one too).
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty(); }
};

// Adds --http-tls-cert, --http-tls-key and --http-tls-client-ca, filling
// `options` (which must outlive the parse).
void AddHttpTlsFlags(FlagParser& flags, HttpTlsOptions& options);

struct HttpRequest {
  std::string path;  // decoded ("%2F" is '/')
  // The path as sent, still encoded: tells "a%2Fb" (one segment) from
  // "a/b" (two).
  std::string raw_path;
  // Query parameters; a repeated one keeps its first value.
  absl::flat_hash_map<std::string, std::string> params;
  // Sub-matches of the route's pattern: [0] is the whole path.
  std::vector<std::string> matches;
  // The Authorization header ("" when absent), and who sent the request
  // ("address:port"), for the routes that check tokens.
  std::string authorization;
  std::string peer;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra headers, e.g. Cache-Control.
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called on one of the server's threads; may block (long polls do), which
// holds that thread.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Routes are added before Start. Thread-safe after Start. Start may be
// called once.
class HttpServer {
 public:
  HttpServer();
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // GET requests whose whole path matches `pattern` (an ECMAScript regular
  // expression) go to `handler`. The first route that matches wins.
  void Get(std::string pattern, HttpHandler handler);

  // Calls `hook` at the start of Stop, before waiting for the requests in
  // progress: handlers that block (long polls) are told to answer now.
  // Added before Start.
  void OnStop(std::function<void()> hook);

  // Listens on `address` ("host:port", "[v6]:port"; port 0 picks a free
  // one) and serves on a thread of its own, speaking HTTPS when
  // tls.enabled() (then a plain-HTTP request fails its handshake and gets
  // no answer). Returns the bound port. INVALID_ARGUMENT for a malformed
  // address, for TLS flags that do not go together, or for a certificate
  // and key that OpenSSL refuses; NOT_FOUND for a TLS file that cannot be
  // read (both name the flag and the file); UNAVAILABLE when the address
  // cannot be bound.
  absl::StatusOr<int> Start(absl::string_view address,
                            const HttpTlsOptions& tls = {});
  // Stops listening and waits for requests in progress. Idempotent.
  void Stop();

 private:
  // Hands GET `pattern` on server_ to `handler`.
  void AddRoute(const std::string& pattern, const HttpHandler& handler);

  // Made by Start (plain or TLS), which then adds the routes.
  std::unique_ptr<httplib::Server> server_;
  std::vector<std::pair<std::string, HttpHandler>> routes_;
  std::vector<std::function<void()>> stop_hooks_;
  std::thread thread_;
};

}  // namespace vitte::task

#endif  // VITTE_COMMON_HTTP_SERVER_H_
