#include "tests/fuzz/dag_fuzz_check.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/dag.h"
#include "coordinator/proto_convert.h"
#include "coordinator/submit_parser.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace vitte::task::fuzz {
namespace {

constexpr absl::string_view kCyclePrefix = "dependency cycle: ";

// The rules of graph_spec.h other than the graph's shape (duplicate ids,
// unknown dependencies, cycles), written from the header's contract rather
// than from graph_spec.cc. Returns the first rule `spec` breaks, or "" when
// it breaks none. max_attempts 0 is allowed: it means 1.
std::string BrokenRule(const GraphSpec& spec, const GraphLimits& limits) {
  const auto too_many = [](size_t n, int64_t limit) {
    return static_cast<int64_t>(n) > limit;
  };
  if (spec.tasks.empty()) return "graph has no tasks";
  if (too_many(spec.tasks.size(), limits.max_tasks)) return "too many tasks";
  if (too_many(spec.name.size(), limits.max_name_bytes)) return "long name";
  size_t total_deps = 0;
  for (const TaskSpec& t : spec.tasks) total_deps += t.deps.size();
  if (too_many(total_deps, limits.max_total_deps)) return "too many deps";
  for (const TaskSpec& t : spec.tasks) {
    const std::string task = absl::StrCat("task \"", t.id, "\": ");
    if (t.id.empty()) return task + "empty id";
    if (too_many(t.id.size(), limits.max_id_bytes)) return task + "long id";
    for (unsigned char c : t.id) {
      if (c <= 0x20 || c == 0x7f) return task + "id has space or control";
    }
    if (t.command.empty()) return task + "empty command";
    if (t.command[0].empty()) return task + "empty command[0]";
    if (too_many(t.command.size(), limits.max_command_args)) {
      return task + "too many args";
    }
    size_t bytes = t.cwd.size();
    for (const std::string& arg : t.command) bytes += arg.size();
    for (const auto& [name, value] : t.env) {
      if (name.empty() || absl::StrContains(name, '=')) {
        return task + "bad env name";
      }
      bytes += name.size() + value.size();
    }
    if (too_many(bytes, limits.max_command_bytes)) return task + "long command";
    if (too_many(t.deps.size(), limits.max_deps_per_task)) {
      return task + "too many deps";
    }
    if (t.max_attempts < 0 || t.max_attempts > limits.max_attempts) {
      return task + "max_attempts out of range";
    }
    if (t.timeout_s < 0 || t.timeout_s > limits.max_timeout_s) {
      return task + "timeout_s out of range";
    }
  }
  return "";
}

// The shape of a graph, worked out independently of Dag::Build (a
// depth-first search instead of Kahn's algorithm).
struct Shape {
  bool duplicate_id = false;
  bool unknown_dep = false;
  // Task index of each id (the first task, if the id is repeated).
  absl::flat_hash_map<std::string, int32_t> index;
  // Only filled when ids are unique and every dependency is known: the
  // dependencies of each task as sorted, repeat-free indices.
  std::vector<std::vector<int32_t>> deps;
  bool acyclic = false;
};

Shape ShapeOf(const GraphSpec& spec) {
  Shape shape;
  const size_t n = spec.tasks.size();
  for (size_t i = 0; i < n; ++i) {
    if (!shape.index.emplace(spec.tasks[i].id, static_cast<int32_t>(i))
             .second) {
      shape.duplicate_id = true;
    }
  }
  if (shape.duplicate_id) return shape;
  shape.deps.resize(n);
  for (size_t i = 0; i < n; ++i) {
    for (const std::string& dep : spec.tasks[i].deps) {
      auto it = shape.index.find(dep);
      if (it == shape.index.end()) {
        shape.unknown_dep = true;
        return shape;
      }
      shape.deps[i].push_back(it->second);
    }
    std::sort(shape.deps[i].begin(), shape.deps[i].end());
    shape.deps[i].erase(std::unique(shape.deps[i].begin(), shape.deps[i].end()),
                        shape.deps[i].end());
  }
  // Iterative DFS with three colours: reaching a grey node means a cycle.
  enum Colour : uint8_t { kWhite, kGrey, kBlack };
  std::vector<Colour> colour(n, kWhite);
  std::vector<std::pair<int32_t, size_t>> stack;  // node, next dep to visit
  for (size_t root = 0; root < n; ++root) {
    if (colour[root] != kWhite) continue;
    colour[root] = kGrey;
    stack.emplace_back(static_cast<int32_t>(root), 0);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == shape.deps[node].size()) {
        colour[node] = kBlack;
        stack.pop_back();
        continue;
      }
      const int32_t dep = shape.deps[node][next++];
      if (colour[dep] == kGrey) return shape;  // acyclic stays false
      if (colour[dep] == kWhite) {
        colour[dep] = kGrey;
        stack.emplace_back(dep, 0);
      }
    }
  }
  shape.acyclic = true;
  return shape;
}

std::vector<int32_t> Sorted(absl::Span<const int32_t> span) {
  std::vector<int32_t> v(span.begin(), span.end());
  std::sort(v.begin(), v.end());
  return v;
}

std::string Ints(const std::vector<int32_t>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ","), "]");
}

void CheckAccepted(const GraphSpec& before, const GraphSpec& after,
                   const Dag& dag, const GraphLimits& limits) {
  const std::string rule = BrokenRule(after, limits);
  VITTE_FUZZ_CHECK(rule.empty(), "accepted a graph that breaks: " + rule);
  VITTE_FUZZ_CHECK(after.name == before.name, "name changed by validation");
  VITTE_FUZZ_CHECK(after.tasks.size() == before.tasks.size(),
                   "task count changed by validation");
  const size_t n = after.tasks.size();
  for (size_t i = 0; i < n; ++i) {
    // The only normalisation is max_attempts 0 -> 1.
    TaskSpec expected = before.tasks[i];
    if (expected.max_attempts == 0) expected.max_attempts = 1;
    VITTE_FUZZ_CHECK(after.tasks[i] == expected,
                     absl::StrCat("task #", i + 1, " \"", before.tasks[i].id,
                                  "\" changed beyond max_attempts 0 -> 1"));
  }

  const Shape shape = ShapeOf(before);
  VITTE_FUZZ_CHECK(!shape.duplicate_id, "accepted a duplicate task id");
  VITTE_FUZZ_CHECK(!shape.unknown_dep, "accepted an unknown dependency");
  VITTE_FUZZ_CHECK(shape.acyclic, "accepted a graph with a cycle");
  VITTE_FUZZ_CHECK(dag.size() == n,
                   absl::StrCat("dag.size() ", dag.size(), " != ", n));

  std::vector<std::vector<int32_t>> dependents(n);
  for (size_t i = 0; i < n; ++i) {
    const absl::Span<const int32_t> deps = dag.deps(i);
    const std::vector<int32_t> got(deps.begin(), deps.end());
    VITTE_FUZZ_CHECK(got == shape.deps[i],
                     absl::StrCat("task #", i + 1, " deps ", Ints(got),
                                  ", declared ", Ints(shape.deps[i])));
    for (int32_t d : got) dependents[d].push_back(static_cast<int32_t>(i));
  }
  for (size_t i = 0; i < n; ++i) {
    const std::vector<int32_t> got = Sorted(dag.dependents(i));
    VITTE_FUZZ_CHECK(got == dependents[i],
                     absl::StrCat("task #", i + 1, " dependents ", Ints(got),
                                  ", expected ", Ints(dependents[i])));
  }
}

// `message` must spell a cycle of the graph as "a -> b -> ... -> a",
// following depends-on edges and starting at the cycle's earliest task.
void CheckCyclePath(const Shape& shape, absl::string_view message) {
  VITTE_FUZZ_CHECK(absl::StartsWith(message, kCyclePrefix),
                   absl::StrCat("cyclic graph refused with: ", message));
  // Ids hold no whitespace, so " -> " cannot occur inside one.
  const std::vector<std::string> path =
      absl::StrSplit(message.substr(kCyclePrefix.size()), " -> ");
  VITTE_FUZZ_CHECK(path.size() >= 2 && path.front() == path.back(),
                   absl::StrCat("cycle path does not close: ", message));
  absl::flat_hash_set<int32_t> seen;
  int32_t earliest = INT32_MAX;
  for (size_t k = 0; k + 1 < path.size(); ++k) {
    auto from = shape.index.find(path[k]);
    auto to = shape.index.find(path[k + 1]);
    VITTE_FUZZ_CHECK(
        from != shape.index.end() && to != shape.index.end(),
        absl::StrCat("cycle path names an unknown task: ", message));
    const std::vector<int32_t>& deps = shape.deps[from->second];
    VITTE_FUZZ_CHECK(
        std::binary_search(deps.begin(), deps.end(), to->second),
        absl::StrCat("cycle path step \"", path[k], "\" -> \"", path[k + 1],
                     "\" is not a dependency: ", message));
    VITTE_FUZZ_CHECK(
        seen.insert(from->second).second,
        absl::StrCat("cycle path repeats \"", path[k], "\": ", message));
    earliest = std::min(earliest, from->second);
  }
  VITTE_FUZZ_CHECK(shape.index.at(path.front()) == earliest,
                   absl::StrCat("cycle path does not start at its earliest "
                                "task: ",
                                message));
}

void CheckRefused(const GraphSpec& before, const absl::Status& status,
                  const GraphLimits& limits) {
  VITTE_FUZZ_CHECK(absl::IsInvalidArgument(status),
                   "refused with " + status.ToString());
  VITTE_FUZZ_CHECK(!status.message().empty(), "refused with no message");
  if (!BrokenRule(before, limits).empty()) return;

  // Every per-task rule holds, so the refusal must be about the shape.
  const Shape shape = ShapeOf(before);
  const absl::string_view message = status.message();
  if (shape.duplicate_id) {
    VITTE_FUZZ_CHECK(absl::StartsWith(message, "duplicate task id \""),
                     absl::StrCat("duplicate ids refused with: ", message));
  } else if (shape.unknown_dep) {
    VITTE_FUZZ_CHECK(
        absl::StrContains(message, "\" depends on unknown task \""),
        absl::StrCat("unknown dep refused with: ", message));
  } else {
    VITTE_FUZZ_CHECK(!shape.acyclic,
                     absl::StrCat("valid graph refused: ", message));
    CheckCyclePath(shape, message);
  }
}

}  // namespace

GraphLimits FuzzLimits() {
  GraphLimits limits;
  limits.max_tasks = 100;
  limits.max_deps_per_task = 64;
  limits.max_total_deps = 256;
  limits.max_id_bytes = 32;
  limits.max_name_bytes = 64;
  limits.max_command_args = 32;
  limits.max_command_bytes = 1024;
  limits.max_attempts = 10;
  limits.max_timeout_s = 3600;
  return limits;
}

bool CheckGraph(const v1::GraphSpec& graph) {
  const GraphLimits limits = FuzzLimits();
  // The daemon's path: ParseSubmitRequest on the request's bytes, which
  // refuses a graph as soon as it crosses the task or dependency limits,
  // then ValidateGraphSpec. That early refusal may refuse nothing that
  // validation would accept; validation runs here either way, as it does
  // for `vitte-task run`.
  v1::SubmitGraphRequest request;
  *request.mutable_graph() = graph;
  const std::string bytes = request.SerializeAsString();
  google::protobuf::io::ArrayInputStream in(bytes.data(),
                                            static_cast<int>(bytes.size()));
  const absl::StatusOr<SubmitRequest> parsed = ParseSubmitRequest(in, limits);
  const GraphSpec before = FromProto(graph);
  GraphSpec spec = before;
  absl::StatusOr<Dag> dag = ValidateGraphSpec(spec, limits);
  if (parsed.ok()) {
    VITTE_FUZZ_CHECK(SameGraph(parsed->spec, before),
                     "ParseSubmitRequest and FromProto read different graphs");
  } else {
    const absl::Status& size = parsed.status();
    VITTE_FUZZ_CHECK(absl::IsInvalidArgument(size),
                     "ParseSubmitRequest refused with " + size.ToString());
    VITTE_FUZZ_CHECK(!BrokenRule(before, limits).empty(),
                     "ParseSubmitRequest refused a graph within the limits: " +
                         size.ToString());
    VITTE_FUZZ_CHECK(!dag.ok(),
                     "ParseSubmitRequest refused a graph that "
                     "ValidateGraphSpec accepts: " +
                         size.ToString());
  }
  if (dag.ok()) {
    CheckAccepted(before, spec, *dag, limits);
  } else {
    CheckRefused(before, dag.status(), limits);
  }
  return parsed.ok() && dag.ok();
}

void Fail(const char* check, const std::string& detail) {
  std::fprintf(stderr, "DAG fuzz check failed: %s\n  %s\n", check,
               detail.c_str());
  std::abort();
}

bool SameGraph(const GraphSpec& a, const GraphSpec& b) {
  return a.name == b.name && a.tasks == b.tasks;
}

}  // namespace vitte::task::fuzz
