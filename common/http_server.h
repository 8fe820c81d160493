// A small HTTP server for the daemons' /metrics, dashboard and JSON API.
// Wraps cpp-httplib so that its header (and OpenSSL's, which it pulls in)
// stays in one translation unit.
#ifndef VITTE_COMMON_HTTP_SERVER_H_
#define VITTE_COMMON_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace vitte::task {

struct HttpRequest {
  std::string path;  // decoded ("%2F" is '/')
  // The path as sent, still encoded: tells "a%2Fb" (one segment) from
  // "a/b" (two).
  std::string raw_path;
  // Query parameters; a repeated one keeps its first value.
  absl::flat_hash_map<std::string, std::string> params;
  // Sub-matches of the route's pattern: [0] is the whole path.
  std::vector<std::string> matches;
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

// Routes are added before Start. Thread-safe after Start.
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
  // one) and serves on a thread of its own. Returns the bound port.
  absl::StatusOr<int> Start(absl::string_view address);
  // Stops listening and waits for requests in progress. Idempotent.
  void Stop();

 private:
  std::unique_ptr<httplib::Server> server_;
  std::vector<std::function<void()>> stop_hooks_;
  std::thread thread_;
};

}  // namespace vitte::task

#endif  // VITTE_COMMON_HTTP_SERVER_H_
