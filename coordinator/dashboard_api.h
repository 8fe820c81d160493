// The data behind the dashboard's JSON API (/api/...): the same messages
// the gRPC TaskService returns, built from the Coordinator the same way,
// plus the dashboard's own GraphStates and GraphEstimate
// (proto/vitte/task/v1/dashboard.proto). The HTTP side (dashboard.cc)
// only parses the request and prints the answer as JSON.
#ifndef VITTE_COORDINATOR_DASHBOARD_API_H_
#define VITTE_COORDINATOR_DASHBOARD_API_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/coordinator.h"
#include "coordinator/estimate.h"
#include "coordinator/event_long_poll.h"
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
      : coordinator_(coordinator), estimator_(clock), long_poll_(coordinator) {}

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
  // The events of graph `graph_id` ("" for every graph) after sequence
  // `after`, waiting up to `wait` for one (see EventLongPoll::Poll, whose
  // errors it returns; NOT_FOUND too for a malformed id). The batch's
  // cursor is the `after` of the next call. Blocks the calling thread.
  absl::StatusOr<v1::EventBatch> Events(const std::string& graph_id,
                                        uint64_t after, absl::Duration wait);
  // Both output streams of attempt `attempt` (0: the latest) of a task,
  // from `cursor` on ("" = the start), as the gRPC GetLogs answers.
  // NOT_FOUND names an unknown graph, task or attempt;
  // FAILED_PRECONDITION when the task has not started; INVALID_ARGUMENT
  // for a malformed cursor.
  absl::StatusOr<v1::GetLogsResponse> GetLogs(const std::string& graph_id,
                                              const std::string& task_id,
                                              int32_t attempt,
                                              const std::string& cursor);
  // Ends the waits of Events now and keeps later ones from waiting: the
  // server is stopping.
  void Shutdown() { long_poll_.Shutdown(); }

 private:
  Coordinator& coordinator_;
  const Estimator estimator_;
  EventLongPoll long_poll_;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_DASHBOARD_API_H_
