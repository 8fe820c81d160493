#include "coordinator/dashboard.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/json_quote.h"
#include "coordinator/dashboard_api.h"
#include "coordinator/web_assets.h"
#include "google/protobuf/util/json_util.h"

namespace vitte::task {
namespace {

// With the charset, cpp-httplib (0.11) leaves the body uncompressed: it
// compresses "application/json" exactly, and prefers brotli at its
// slowest setting, which takes seconds of a server thread for the 2 MB
// of a 10,000-task graph (measured: 4.6 s, against 0.2 s to build it).
// Graphs are read once per page; the polled answers are small.
constexpr char kJsonType[] = "application/json; charset=utf-8";

// Long polls (/events): how long one waits for an event unless told, and
// at most. Each waiting poll holds one of the server's 8 threads (and
// EventLongPoll lets only 4 wait at once); 30 s stays below the idle
// timeouts of common proxies.
constexpr int64_t kDefaultWaitMs = 20'000;
constexpr int64_t kMaxWaitMs = 30'000;

HttpResponse ErrorResponse(const absl::Status& status) {
  HttpResponse res;
  res.status = HttpStatusFor(status.code());
  res.content_type = kJsonType;
  res.body = absl::StrCat(
      "{\"error\": ", JsonQuote(status.message()), ", \"code\": ",
      JsonQuote(absl::StatusCodeToString(status.code())), "}\n");
  return res;
}

HttpResponse JsonResponse(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  HttpResponse res;
  auto status =
      google::protobuf::util::MessageToJsonString(message, &res.body, options);
  if (!status.ok()) {
    return ErrorResponse(absl::InternalError(absl::StrCat(
        "cannot print ", message.GetTypeName(), " as JSON: ",
        status.ToString())));
  }
  res.content_type = kJsonType;
  // Live data: a browser must ask again every time.
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

template <typename Message>
HttpResponse Answer(const absl::StatusOr<Message>& message) {
  if (!message.ok()) return ErrorResponse(message.status());
  return JsonResponse(*message);
}

HttpResponse ServeAsset(absl::string_view name) {
  for (const WebAsset& asset : WebAssets()) {
    if (asset.name != name) continue;
    HttpResponse res;
    res.content_type = std::string(ContentTypeFor(name));
    res.body = std::string(asset.content);
    // The files change only with the binary; revalidating costs one small
    // request per file and shows a new version at once after an upgrade.
    res.headers.emplace_back("Cache-Control", "no-cache");
    return res;
  }
  return ErrorResponse(
      absl::NotFoundError(absl::StrCat("no file \"", name, "\"")));
}

// Query parameter `name` as a number in [min, max]; `fallback` when absent.
// INVALID_ARGUMENT names the parameter otherwise.
template <typename Number>
absl::StatusOr<Number> NumberParam(const HttpRequest& req,
                                   const std::string& name, Number fallback,
                                   Number min, Number max) {
  auto it = req.params.find(name);
  if (it == req.params.end()) return fallback;
  Number n{};
  if (!absl::SimpleAtoi(it->second, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be a number in ", min, "..", max, ", not \"",
                     it->second.substr(0, 64), "\""));
  }
  return n;
}

// One long poll on the events of graph `graph_id` ("" = every graph): see
// the header. A wait above kMaxWaitMs is cut to it rather than refused,
// so that a client's default survives a lower cap.
HttpResponse EventsResponse(DashboardApi& api, const std::string& graph_id,
                            const HttpRequest& req) {
  absl::StatusOr<uint64_t> after = NumberParam<uint64_t>(
      req, "after", 0, 0, std::numeric_limits<uint64_t>::max());
  if (!after.ok()) return ErrorResponse(after.status());
  absl::StatusOr<int64_t> wait_ms = NumberParam<int64_t>(
      req, "wait_ms", kDefaultWaitMs, 0, std::numeric_limits<int64_t>::max());
  if (!wait_ms.ok()) return ErrorResponse(wait_ms.status());
  return Answer(api.Events(graph_id, *after,
                           absl::Milliseconds(std::min(*wait_ms, kMaxWaitMs))));
}

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

absl::string_view ContentTypeFor(absl::string_view name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(name, ".svg")) return "image/svg+xml";
  if (absl::EndsWith(name, ".png")) return "image/png";
  return "application/octet-stream";
}

void AddDashboardRoutes(HttpServer& http, Coordinator& coordinator,
                        Authenticator& auth) {
  // Shared by the handlers, which may run on several server threads at
  // once (DashboardApi is thread-safe).
  auto api = std::make_shared<DashboardApi>(coordinator, Clock::Real());
  // Long polls answer at once when the server stops, which waits for them.
  http.OnStop([api] { api->Shutdown(); });

  http.Get("/", [](const HttpRequest&) { return ServeAsset("index.html"); });
  http.Get("/static/(.+)", [](const HttpRequest& req) {
    return ServeAsset(req.matches[1]);
  });

  // An API route, answered only to a caller that may make `method`, the
  // gRPC call it mirrors: the same tokens, roles and rates as gRPC.
  auto api_route = [&http, &auth](std::string pattern,
                                  absl::string_view method,
                                  HttpHandler handler) {
    http.Get(std::move(pattern), [&auth, method, handler = std::move(handler)](
                                     const HttpRequest& req) {
      absl::StatusOr<Caller> caller = auth.Authorize(
          req.authorization.empty()
              ? std::nullopt
              : std::optional<absl::string_view>(req.authorization),
          kTaskServiceName, method, req.peer);
      if (!caller.ok()) {
        HttpResponse refused = ErrorResponse(caller.status());
        if (refused.status == 401) {
          refused.headers.emplace_back("WWW-Authenticate", "Bearer");
        }
        return refused;
      }
      return handler(req);
    });
  };

  api_route("/api/graphs", "ListGraphs", [api](const HttpRequest& req) {
    int limit = 100;
    if (auto it = req.params.find("limit"); it != req.params.end() &&
                                            !absl::SimpleAtoi(it->second, &limit)) {
      return ErrorResponse(absl::InvalidArgumentError(
          absl::StrCat("limit must be a number, not \"",
                       it->second.substr(0, 64), "\"")));
    }
    return Answer(api->ListGraphs(limit));
  });
  api_route("/api/graphs/([^/]+)", "GetGraph", [api](const HttpRequest& req) {
    auto fields = req.params.find("fields");
    if (fields == req.params.end()) return Answer(api->GetGraph(req.matches[1]));
    if (fields->second == "states") {
      return Answer(api->GetGraphStates(req.matches[1]));
    }
    return ErrorResponse(absl::InvalidArgumentError(
        absl::StrCat("fields must be \"states\" (or absent), not \"",
                     fields->second.substr(0, 64), "\"")));
  });
  api_route("/api/graphs/([^/]+)/estimate", "GetGraph",
            [api](const HttpRequest& req) {
    return Answer(api->Estimate(req.matches[1]));
  });
  api_route("/api/graphs/([^/]+)/events", "FollowEvents",
            [api](const HttpRequest& req) {
    return EventsResponse(*api, req.matches[1], req);
  });
  api_route("/api/events", "FollowEvents", [api](const HttpRequest& req) {
    return EventsResponse(*api, "", req);
  });
  // Task ids may hold '/': the rest of the (decoded) path is the id. A
  // path that ends in a literal "/logs" asks for the task's logs; the page
  // sends a task id's '/' as %2F, so a task named "x/logs" stays a task.
  api_route("/api/graphs/([^/]+)/tasks/(.+)", "GetLogs",
            [api](const HttpRequest& req) {
    constexpr absl::string_view kLogs = "/logs";
    const std::string& task = req.matches[2];
    if (!absl::EndsWith(req.raw_path, kLogs) || task.size() <= kLogs.size()) {
      return Answer(api->GetTask(req.matches[1], task));
    }
    absl::StatusOr<int32_t> attempt = NumberParam<int32_t>(
        req, "attempt", 0, 0, std::numeric_limits<int32_t>::max());
    if (!attempt.ok()) return ErrorResponse(attempt.status());
    auto cursor = req.params.find("cursor");
    return Answer(api->GetLogs(
        req.matches[1], task.substr(0, task.size() - kLogs.size()), *attempt,
        cursor == req.params.end() ? "" : cursor->second));
  });
  api_route("/api/workers", "ListWorkers", [api](const HttpRequest&) {
    return JsonResponse(api->ListWorkers());
  });
  http.Get("/api/.*", [](const HttpRequest& req) {
    return ErrorResponse(absl::NotFoundError(
        absl::StrCat("no API at \"", req.path.substr(0, 200), "\"")));
  });
}

}  // namespace vitte::task
