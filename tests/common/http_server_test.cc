#include "common/http_server.h"

#include <httplib.h>

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

}  // namespace
}  // namespace vitte::task
