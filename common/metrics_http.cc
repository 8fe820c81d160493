#include "common/metrics_http.h"

namespace vitte::task {

void AddMetricsRoute(HttpServer& http, MetricsRegistry& registry) {
  http.Get("/metrics", [&registry](const HttpRequest&) {
    HttpResponse res;
    res.content_type = MetricsRegistry::kContentType;
    res.body = registry.Render();
    // Every scrape must see the current values.
    res.headers.emplace_back("Cache-Control", "no-store");
    return res;
  });
}

}  // namespace vitte::task
