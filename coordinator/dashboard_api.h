// The data behind the dashboard's JSON API (/api/...): the same messages
// the gRPC TaskService returns, built from the Coordinator the same way,
// plus the dashboard's own GraphStates and GraphEstimate
// (proto/vitte/task/v1/dashboard.proto). The HTTP side (dashboard.cc)
// only parses the request and prints the answer as JSON.
#ifndef VITTE_COORDINATOR_DASHBOARD_API_H_
#define VITTE_COORDINATOR_DASHBOARD_API_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "coordinator/coordinator.h"
#include "coordinator/estimate.h"
#include "vitte/task/v1/dashboard.pb.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task {

// Thread-safe (it only reads the Coordinator, which is).
class DashboardApi {
 public:
  // How many earlier graphs of the same name an estimate reads.
  static constexpr int kHistoryGraphs = 5;

  // `coordinator` and `clock` must outlive the API.
  DashboardApi(Coordinator& coordinator, const Clock& clock)
      : coordinator_(coordinator), estimator_(clock) {}

  // Most recent first. INVALID_ARGUMENT unless 1 <= limit <= 1000.
  absl::StatusOr<v1::ListGraphsResponse> ListGraphs(int limit);
  // The graph with the last attempt of each task (as `vitte-task status`).
  // NOT_FOUND for an unknown or malformed id.
  absl::StatusOr<v1::Graph> GetGraph(const std::string& graph_id);
  // Only the graph's summary and its tasks' states, for polling.
  absl::StatusOr<v1::GraphStates> GetGraphStates(const std::string& graph_id);
  // One task with every attempt. NOT_FOUND names an unknown graph or task.
  absl::StatusOr<v1::Task> GetTask(const std::string& graph_id,
                                   const std::string& task_id);
  v1::ListWorkersResponse ListWorkers();
  // When the graph should end (see GraphEstimate in dashboard.proto).
  absl::StatusOr<v1::GraphEstimate> Estimate(const std::string& graph_id);

 private:
  Coordinator& coordinator_;
  const Estimator estimator_;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_DASHBOARD_API_H_
