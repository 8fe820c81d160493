#include "coordinator/http_routes.h"

#include "coordinator/dashboard.h"
#include "common/metrics_http.h"

namespace vitte::task {

void AddHttpRoutes(HttpServer& http, Coordinator& coordinator,
                   Authenticator& auth) {
  http.Get("/healthz", [](const HttpRequest&) {
    HttpResponse res;
    res.body = "ok\n";
    return res;
  });
  // The daemon's registry: the coordinator's metrics and the services'.
  // Public, as /healthz: they hold counts and names, nothing secret, and
  // Prometheus and probes need no token.
  AddMetricsRoute(http, coordinator.metrics_registry());
  // Last: it ends with a catch-all that answers unknown /api/ paths with a
  // JSON 404, and the first route that matches wins.
  AddDashboardRoutes(http, coordinator, auth);
}

}  // namespace vitte::task
