#include "coordinator/http_routes.h"

#include "common/metrics_http.h"

namespace vitte::task {

void AddHttpRoutes(HttpServer& http, Coordinator& coordinator) {
  http.Get("/healthz", [](const HttpRequest&) {
    HttpResponse res;
    res.body = "ok\n";
    return res;
  });
  // The daemon's registry: the coordinator's metrics and the services'.
  AddMetricsRoute(http, coordinator.metrics_registry());
}

}  // namespace vitte::task
