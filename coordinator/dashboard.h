// The web dashboard on vitte-taskd's HTTP listener (--metrics-listen):
//   /                        the page (coordinator/web/index.html)
//   /static/NAME             its scripts and style, compiled in
//   /api/graphs              ListGraphsResponse (?limit=N, default 100)
//   /api/graphs/ID           Graph with each task's last attempt;
//                            ?fields=states: GraphStates (for polling)
//   /api/graphs/ID/estimate  GraphEstimate
//   /api/graphs/ID/tasks/T   Task with every attempt
//   /api/graphs/ID/tasks/T/logs  GetLogsResponse: both streams of one
//                            attempt (?attempt=N, default the latest) from
//                            ?cursor=C (its next_cursor; default the start)
//   /api/graphs/ID/events    EventBatch: a long poll on the graph's events
//                            after ?after=SEQ (0: a compacted snapshot of
//                            every task, at once); answers as soon as there
//                            is one, or after ?wait_ms=N (default 20000, at
//                            most 30000) without any. Resume from its cursor.
//   /api/events              the same for every graph (after=0: from now on)
//   /api/workers             ListWorkersResponse
// Answers are the protobuf JSON form of the messages in task.proto and
// dashboard.proto, with proto field names and every field printed (as
// `vitte-task ... --output json`). Errors are {"error": "...", "code":
// "NOT_FOUND"} with the matching HTTP status.
//
// The server has 8 threads; a waiting long poll holds one, so an open
// graph page holds one. Only 4 polls wait at once: past that a poll
// answers at once with what there is (see EventLongPoll), and the page
// asks again a second later, as a polling page would.
#ifndef VITTE_COORDINATOR_DASHBOARD_H_
#define VITTE_COORDINATOR_DASHBOARD_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/http_server.h"
#include "coordinator/auth.h"
#include "coordinator/coordinator.h"

namespace vitte::task {

// Adds the dashboard's routes. Its API (/api/...) asks `auth` for each
// request as for the gRPC call it mirrors (a token in the Authorization
// header when the daemon requires tokens); the page and its files are
// public. `coordinator` and `auth` must outlive the server.
void AddDashboardRoutes(HttpServer& http, Coordinator& coordinator,
                        Authenticator& auth);

// Exposed for tests.
// The HTTP status for an error of code `code` (e.g. 404 for NOT_FOUND).
int HttpStatusFor(absl::StatusCode code);
// The Content-Type of a static file, from its extension.
absl::string_view ContentTypeFor(absl::string_view name);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_DASHBOARD_H_
