// What vitte-taskd serves over HTTP (--metrics-listen): Prometheus metrics,
// the web dashboard and its JSON API. Each feature adds its routes here.
#ifndef VITTE_COORDINATOR_HTTP_ROUTES_H_
#define VITTE_COORDINATOR_HTTP_ROUTES_H_

#include "common/http_server.h"
#include "coordinator/auth.h"
#include "coordinator/coordinator.h"

namespace vitte::task {

// Adds every route to `http`; the API's check callers with `auth` (see
// AddDashboardRoutes). Both must outlive the server.
void AddHttpRoutes(HttpServer& http, Coordinator& coordinator,
                   Authenticator& auth);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_HTTP_ROUTES_H_
