#include "common/http_server.h"

#include <httplib.h>

#include <sys/socket.h>

#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace vitte::task {
namespace {

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

HttpServer::HttpServer() : server_(std::make_unique<httplib::Server>()) {
  // httplib's default sets SO_REUSEPORT, which lets a second daemon bind the
  // same port and take half the connections. SO_REUSEADDR alone still
  // allows a restart while old connections sit in TIME_WAIT.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(std::string pattern, HttpHandler handler) {
  server_->Get(pattern, [handler = std::move(handler)](
                            const httplib::Request& req,
                            httplib::Response& res) {
    HttpRequest request;
    request.path = req.path;
    request.raw_path = req.target.substr(0, req.target.find('?'));
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

absl::StatusOr<int> HttpServer::Start(absl::string_view address) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(address, host, port); !s.ok()) return s;
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

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  for (const std::function<void()>& hook : stop_hooks_) hook();
  server_->stop();
  thread_.join();
}

}  // namespace vitte::task
