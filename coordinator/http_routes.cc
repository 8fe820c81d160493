#include "coordinator/http_routes.h"

#include "coordinator/dashboard.h"

namespace vitte::task {

void AddHttpRoutes(HttpServer& http, Coordinator& coordinator) {
  http.Get("/healthz", [](const HttpRequest&) {
    HttpResponse res;
    res.body = "ok\n";
    return res;
  });
  // Last: it ends with a catch-all that answers unknown /api/ paths with a
  // JSON 404, and the first route that matches wins.
  AddDashboardRoutes(http, coordinator);
}

}  // namespace vitte::task
