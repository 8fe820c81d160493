#include "coordinator/dashboard_api.h"

#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dag.h"
#include "common/labels.h"
#include "common/status_macros.h"
#include "coordinator/proto_convert.h"

namespace vitte::task {

absl::StatusOr<v1::ListGraphsResponse> DashboardApi::ListGraphs(int limit) {
  if (limit < 1 || limit > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must be in 1..1000, not ", limit));
  }
  ASSIGN_OR_RETURN(std::vector<GraphSummaryView> graphs,
                   coordinator_.ListGraphs(limit));
  v1::ListGraphsResponse out;
  for (const GraphSummaryView& g : graphs) ToProto(g, *out.add_graphs());
  return out;
}

absl::StatusOr<v1::Graph> DashboardApi::GetGraph(const std::string& graph_id) {
  ASSIGN_OR_RETURN(GraphId id, ParseGraphId(graph_id));
  ASSIGN_OR_RETURN(GraphView view,
                   coordinator_.GetGraph(id, /*all_attempts=*/false));
  v1::Graph out;
  ToProto(view, out);
  return out;
}

absl::StatusOr<v1::GraphStates> DashboardApi::GetGraphStates(
    const std::string& graph_id) {
  ASSIGN_OR_RETURN(GraphId id, ParseGraphId(graph_id));
  ASSIGN_OR_RETURN(GraphView view,
                   coordinator_.GetGraph(id, /*all_attempts=*/false));
  v1::GraphStates out;
  ToProto(GraphSummaryView{view.record, view.counts}, *out.mutable_summary());
  std::string& states = *out.mutable_states();
  states.reserve(view.tasks.size());
  for (const TaskStatus& t : view.tasks) {
    states += static_cast<char>('0' + static_cast<int>(t.state));
  }
  return out;
}

absl::StatusOr<v1::Task> DashboardApi::GetTask(const std::string& graph_id,
                                               const std::string& task_id) {
  ASSIGN_OR_RETURN(GraphId id, ParseGraphId(graph_id));
  ASSIGN_OR_RETURN(GraphView view,
                   coordinator_.GetGraph(id, /*all_attempts=*/true));
  for (size_t i = 0; i < view.spec.tasks.size(); ++i) {
    if (view.spec.tasks[i].id != task_id) continue;
    // ToProto converts whole graphs; keep the one task and its attempts.
    GraphView one;
    one.record = view.record;
    one.spec.tasks.push_back(view.spec.tasks[i]);
    one.tasks.push_back(view.tasks[i]);
    one.tasks.back().skipped_because = -1;  // an index into `view`
    one.attempts.push_back(std::move(view.attempts[i]));
    v1::Graph g;
    ToProto(one, g);
    v1::Task& task = *g.mutable_tasks(0);
    if (int32_t cause = view.tasks[i].skipped_because;
        cause >= 0 && static_cast<size_t>(cause) < view.spec.tasks.size()) {
      task.set_skipped_because(view.spec.tasks[cause].id);
    }
    return std::move(task);
  }
  return absl::NotFoundError(absl::StrCat("graph ", graph_id,
                                          " has no task \"",
                                          task_id.substr(0, 300), "\""));
}

v1::ListWorkersResponse DashboardApi::ListWorkers() {
  v1::ListWorkersResponse out;
  for (const WorkerView& w : coordinator_.ListWorkers()) {
    ToProto(w, *out.add_workers());
  }
  return out;
}

absl::StatusOr<v1::GraphEstimate> DashboardApi::Estimate(
    const std::string& graph_id) {
  ASSIGN_OR_RETURN(GraphId id, ParseGraphId(graph_id));
  ASSIGN_OR_RETURN(GraphView view,
                   coordinator_.GetGraph(id, /*all_attempts=*/false));
  const std::vector<TaskSpec>& specs = view.spec.tasks;
  // The stored graph was validated when it was submitted, so this only
  // fails on a damaged database.
  ASSIGN_OR_RETURN(
      Dag dag,
      Dag::Build(
          specs.size(),
          [&](size_t i) -> const std::string& { return specs[i].id; },
          [&](size_t i) -> const std::vector<std::string>& {
            return specs[i].deps;
          }));
  ASSIGN_OR_RETURN(auto past, coordinator_.PastDurations(view.record.name, id,
                                                         kHistoryGraphs));
  std::vector<TaskProgress> progress(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    TaskProgress& p = progress[i];
    p.state = view.tasks[i].state;
    if (!view.attempts[i].empty()) {
      const AttemptRecord& last = view.attempts[i].back();
      if (p.state == TaskState::kRunning) p.started_at_ms = last.started_at_ms;
      if (p.state == TaskState::kSucceeded && last.finished_at_ms > 0 &&
          last.started_at_ms > 0) {
        p.took_ms = last.finished_at_ms - last.started_at_ms;
      }
    }
    if (auto it = past.find(specs[i].id); it != past.end()) {
      p.past_ms = std::move(it->second);
    }
  }
  // Every connected worker that takes tasks counts if it may run at least
  // one task of the graph (WorkerTakes): the others cannot help, so leaving
  // them out keeps the bound honest. Which worker may run which task is
  // otherwise ignored (see Estimator::Estimate). E.g. a worker serving
  // only pool=release adds nothing to a graph of unlabelled tasks.
  std::set<Labels> required;  // distinct label sets: usually one or two
  for (const TaskSpec& spec : specs) required.insert(spec.labels);
  int32_t slots = 0;
  for (const WorkerView& w : coordinator_.ListWorkers()) {
    if (!w.connected || w.draining) continue;
    for (const Labels& r : required) {
      if (WorkerTakes(r, w.labels, w.serve_labels)) {
        slots += w.slots;
        break;
      }
    }
  }
  GraphEstimate e = estimator_.Estimate(dag, progress, slots);

  v1::GraphEstimate out;
  out.set_graph_id(FormatGraphId(id));
  out.set_now_ms(e.now_ms);
  out.set_eta_ms(e.eta_ms);
  out.set_remaining_ms(e.remaining_ms);
  out.set_critical_path_ms(e.critical_path_ms);
  for (int32_t i : e.critical_path) out.add_critical_path(specs[i].id);
  out.set_remaining_work_ms(e.remaining_work_ms);
  out.set_slots(e.slots);
  out.set_tasks_with_history(e.tasks_with_history);
  out.set_tasks(static_cast<int32_t>(specs.size()));
  out.set_default_task_ms(e.default_task_ms);
  return out;
}

absl::StatusOr<v1::EventBatch> DashboardApi::Events(const std::string& graph_id,
                                                    uint64_t after,
                                                    absl::Duration wait) {
  GraphId id = 0;
  if (!graph_id.empty()) {
    ASSIGN_OR_RETURN(id, ParseGraphId(graph_id));
  }
  ASSIGN_OR_RETURN(EventBatch batch, long_poll_.Poll(id, after, wait));
  v1::EventBatch out;
  out.mutable_events()->Reserve(static_cast<int>(batch.events.size()));
  for (const TaskEvent& e : batch.events) ToProto(e, *out.add_events());
  out.set_cursor(batch.cursor);
  out.set_compacted(batch.compacted);
  return out;
}

absl::StatusOr<v1::GetLogsResponse> DashboardApi::GetLogs(
    const std::string& graph_id, const std::string& task_id, int32_t attempt,
    const std::string& cursor) {
  v1::GetLogsRequest request;  // the same request as gRPC's GetLogs
  request.set_graph_id(graph_id);
  request.set_task_id(task_id);
  request.set_attempt(attempt);
  request.set_cursor(cursor);
  ASSIGN_OR_RETURN(LogsQuery query, FromProto(request));
  ASSIGN_OR_RETURN(LogsView view, coordinator_.GetLogs(query));
  v1::GetLogsResponse out;
  ToProto(view, out);
  return out;
}

}  // namespace vitte::task
