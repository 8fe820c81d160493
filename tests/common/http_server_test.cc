#include "common/http_server.h"

#include <httplib.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

TEST(HttpServerTest, RoutesByPatternWithMatchesAndParams) {
  HttpServer server;
  server.Get(R"(/graphs/(\d+))", [](const HttpRequest& req) {
    HttpResponse res;
    res.content_type = "application/json";
    auto after = req.params.find("after");
    res.body = "graph " + req.matches.at(1) + " after " +
               (after == req.params.end() ? "-" : after->second);
    res.headers.emplace_back("Cache-Control", "no-store");
    return res;
  });
  absl::StatusOr<int> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  ASSERT_GT(*port, 0);

  httplib::Client client("127.0.0.1", *port);
  client.set_read_timeout(10, 0);
  auto res = client.Get("/graphs/42?after=7");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "graph 42 after 7");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "no-store");

  auto missing = client.Get("/graphs/x");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  server.Stop();
  server.Stop();  // idempotent
}

TEST(HttpServerTest, RawPathKeepsTheEncodingThatPathDecodes) {
  HttpServer server;
  server.Get("/tasks/(.+)", [](const HttpRequest& req) {
    HttpResponse res;
    res.body = req.path + " " + req.raw_path;
    return res;
  });
  absl::StatusOr<int> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  httplib::Client client("127.0.0.1", *port);
  client.set_read_timeout(10, 0);
  auto res = client.Get("/tasks/a%2Fb/logs?x=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "/tasks/a/b/logs /tasks/a%2Fb/logs");
}

// A handler that blocks until told (as a long poll does) is told by an
// OnStop hook, so Stop does not wait for it to time out.
TEST(HttpServerTest, StopRunsItsHooksBeforeWaitingForHandlers) {
  HttpServer server;
  absl::Notification entered;
  absl::Mutex mu;
  bool released = false;
  server.Get("/wait", [&](const HttpRequest&) {
    entered.Notify();
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(&released), absl::Seconds(30));
    HttpResponse res;
    res.body = released ? "released" : "timed out";
    return res;
  });
  server.OnStop([&] {
    absl::MutexLock lock(&mu);
    released = true;
  });
  absl::StatusOr<int> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  std::string body;
  std::thread client_thread([&] {
    httplib::Client client("127.0.0.1", *port);
    client.set_read_timeout(40, 0);
    if (auto res = client.Get("/wait")) body = res->body;
  });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Time start = absl::Now();
  server.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  client_thread.join();
  EXPECT_EQ(body, "released");
}

TEST(HttpServerTest, RefusesMalformedAddressAndBusyPort) {
  HttpServer bad;
  EXPECT_EQ(bad.Start("localhost").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.Start(":80").status().code(),
            absl::StatusCode::kInvalidArgument);

  HttpServer first;
  absl::StatusOr<int> port = first.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok());
  HttpServer second;
  absl::StatusOr<int> again =
      second.Start("127.0.0.1:" + std::to_string(*port));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable)
      << again.status();
}

// HTTPS itself is tested against a real daemon with real certificates
// (tests/integration/tls_test.cc); these are the flag mistakes caught before
// OpenSSL sees the files, each named.
TEST(HttpServerTest, RefusesTlsFlagsThatDoNotGoTogetherOrFilesItCannotRead) {
  struct Case {
    HttpTlsOptions tls;
    absl::StatusCode code;
    std::string message;
  };
  const std::string missing = "/nonexistent/vitte-http-test.pem";
  auto tls = [](std::string cert, std::string key, std::string ca) {
    HttpTlsOptions o;
    o.cert_file = std::move(cert);
    o.key_file = std::move(key);
    o.client_ca_file = std::move(ca);
    return o;
  };
  const std::vector<Case> cases = {
      {tls("c.pem", "", ""), absl::StatusCode::kInvalidArgument,
       "--http-tls-cert and --http-tls-key go together"},
      {tls("", "k.pem", ""), absl::StatusCode::kInvalidArgument,
       "--http-tls-cert and --http-tls-key go together"},
      {tls("", "", "ca.pem"), absl::StatusCode::kInvalidArgument,
       "--http-tls-client-ca needs TLS"},
      {tls(missing, missing, ""), absl::StatusCode::kNotFound,
       "--http-tls-cert: cannot read \"" + missing + "\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    HttpServer server;
    absl::StatusOr<int> port = server.Start("127.0.0.1:0", c.tls);
    EXPECT_EQ(port.status().code(), c.code) << port.status();
    EXPECT_NE(port.status().message().find(c.message), std::string::npos)
        << port.status();
  }
}

}  // namespace
}  // namespace vitte::task
