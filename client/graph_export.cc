#include "client/graph_export.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/cli_output.h"
#include "common/json_quote.h"

namespace vitte::task {
namespace {

// Fill colours by state, the same in every format.
const char* Colour(v1::TaskState state) {
  switch (state) {
    case v1::TASK_STATE_PENDING: return "#eeeeee";
    case v1::TASK_STATE_READY: return "#ffe9a8";
    case v1::TASK_STATE_RUNNING: return "#a8d8ff";
    case v1::TASK_STATE_SUCCEEDED: return "#9be79b";
    case v1::TASK_STATE_FAILED: return "#ff9b9b";
    case v1::TASK_STATE_SKIPPED: return "#d0d0d0";
    case v1::TASK_STATE_CANCELLED: return "#c9b3ff";
    default: return nullptr;
  }
}

std::string State(v1::TaskState state) {
  return absl::AsciiStrToLower(StateName(state));
}

// Mermaid labels are quoted, and a quote inside is an entity.
std::string MermaidLabel(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') {
      out += "#quot;";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Calls fn(dependency index, dependent index) for every edge; dependencies
// that name no task of the graph are left out.
template <typename Fn>
void ForEachEdge(const v1::Graph& graph, Fn fn) {
  absl::flat_hash_map<absl::string_view, int> index;
  for (int i = 0; i < graph.tasks_size(); ++i) {
    index.emplace(graph.tasks(i).spec().id(), i);
  }
  for (int i = 0; i < graph.tasks_size(); ++i) {
    for (const std::string& dep : graph.tasks(i).spec().deps()) {
      auto it = index.find(dep);
      if (it != index.end()) fn(it->second, i);
    }
  }
}

// Names are quoted as JSON strings, which DOT reads as its own for what
// task ids may hold (printable, no whitespace).
std::string Dot(const v1::Graph& graph) {
  std::string out = absl::StrCat("digraph ", JsonQuote(graph.summary().name()),
                                 " {\n  rankdir=LR;\n"
                                 "  node [shape=box, style=\"rounded,filled\", "
                                 "fillcolor=\"#ffffff\"];\n");
  for (const v1::Task& t : graph.tasks()) {
    absl::StrAppend(&out, "  ", JsonQuote(t.spec().id()));
    if (const char* colour = Colour(t.state())) {
      absl::StrAppend(&out, " [fillcolor=\"", colour, "\", tooltip=",
                      JsonQuote(State(t.state())), "]");
    }
    out += ";\n";
  }
  ForEachEdge(graph, [&](int from, int to) {
    absl::StrAppend(&out, "  ", JsonQuote(graph.tasks(from).spec().id()), " -> ",
                    JsonQuote(graph.tasks(to).spec().id()), ";\n");
  });
  return out + "}\n";
}

std::string Mermaid(const v1::Graph& graph) {
  // Nodes are t0, t1, ...: task ids may hold characters Mermaid reads as
  // syntax, so they only appear as labels.
  std::string out = "flowchart LR\n";
  for (int i = 0; i < graph.tasks_size(); ++i) {
    absl::StrAppend(&out, "  t", i, "[",
                    MermaidLabel(graph.tasks(i).spec().id()), "]\n");
  }
  ForEachEdge(graph, [&](int from, int to) {
    absl::StrAppend(&out, "  t", from, " --> t", to, "\n");
  });
  absl::flat_hash_map<v1::TaskState, bool> used;
  for (int i = 0; i < graph.tasks_size(); ++i) {
    v1::TaskState s = graph.tasks(i).state();
    if (Colour(s) == nullptr) continue;
    absl::StrAppend(&out, "  class t", i, " ", State(s), "\n");
    used[s] = true;
  }
  for (int s = v1::TaskState_MIN; s <= v1::TaskState_MAX; ++s) {
    auto state = static_cast<v1::TaskState>(s);
    if (used.contains(state)) {
      absl::StrAppend(&out, "  classDef ", State(state), " fill:",
                      Colour(state), "\n");
    }
  }
  return out;
}

std::string Json(const v1::Graph& graph) {
  std::string out = absl::StrCat("{\n  \"name\": ",
                                 JsonQuote(graph.summary().name()),
                                 ",\n  \"tasks\": [");
  for (int i = 0; i < graph.tasks_size(); ++i) {
    const v1::Task& t = graph.tasks(i);
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "    {\"id\": ",
                    JsonQuote(t.spec().id()));
    if (Colour(t.state()) != nullptr) {
      absl::StrAppend(&out, ", \"state\": ", JsonQuote(State(t.state())));
    }
    out += "}";
  }
  out += "\n  ],\n  \"edges\": [";
  bool first = true;
  ForEachEdge(graph, [&](int from, int to) {
    absl::StrAppend(&out, first ? "\n" : ",\n", "    {\"from\": ",
                    JsonQuote(graph.tasks(from).spec().id()), ", \"to\": ",
                    JsonQuote(graph.tasks(to).spec().id()), "}");
    first = false;
  });
  return out + "\n  ]\n}\n";
}

}  // namespace

absl::StatusOr<GraphFormat> ParseGraphFormat(absl::string_view name) {
  if (name == "dot") return GraphFormat::kDot;
  if (name == "mermaid") return GraphFormat::kMermaid;
  if (name == "json") return GraphFormat::kJson;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown graph format \"", name, "\" (expected dot, mermaid or json)"));
}

v1::Graph GraphOfSpec(const v1::GraphSpec& spec) {
  v1::Graph graph;
  graph.mutable_summary()->set_name(spec.name());
  for (const v1::TaskSpec& t : spec.tasks()) {
    *graph.add_tasks()->mutable_spec() = t;
  }
  return graph;
}

std::string ExportGraph(const v1::Graph& graph, GraphFormat format) {
  switch (format) {
    case GraphFormat::kDot: return Dot(graph);
    case GraphFormat::kMermaid: return Mermaid(graph);
    case GraphFormat::kJson: return Json(graph);
  }
  return "";
}

}  // namespace vitte::task
