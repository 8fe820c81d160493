// Serves a MetricsRegistry at /metrics of an HttpServer, for Prometheus.
#ifndef VITTE_COMMON_METRICS_HTTP_H_
#define VITTE_COMMON_METRICS_HTTP_H_

#include "common/http_server.h"
#include "common/metrics.h"

namespace vitte::task {

// Adds GET /metrics, answered with `registry` rendered in the text
// exposition format. `registry` must outlive the server's Stop().
void AddMetricsRoute(HttpServer& http, MetricsRegistry& registry);

}  // namespace vitte::task

#endif  // VITTE_COMMON_METRICS_HTTP_H_
