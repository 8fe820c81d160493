#include "coordinator/http_routes.h"

namespace vitte::task {

void AddHttpRoutes(HttpServer& http, Coordinator& /*coordinator*/) {
  http.Get("/healthz", [](const HttpRequest&) {
    HttpResponse res;
    res.body = "ok\n";
    return res;
  });
}

}  // namespace vitte::task
