// Renders a graph (tasks, dependencies and, once submitted, their states)
// for `vitte-task graph`: Graphviz DOT, Mermaid, or JSON.
#ifndef VITTE_CLIENT_GRAPH_EXPORT_H_
#define VITTE_CLIENT_GRAPH_EXPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task {

enum class GraphFormat { kDot, kMermaid, kJson };

// "dot", "mermaid" or "json"; INVALID_ARGUMENT names the others.
absl::StatusOr<GraphFormat> ParseGraphFormat(absl::string_view name);

// A graph read from a DAG file, not submitted: every task without a state.
v1::Graph GraphOfSpec(const v1::GraphSpec& spec);

// Tasks in submission order, an edge from each dependency to its dependent,
// each task coloured by its state (no colour for a task with no state).
std::string ExportGraph(const v1::Graph& graph, GraphFormat format);

}  // namespace vitte::task

#endif  // VITTE_CLIENT_GRAPH_EXPORT_H_
