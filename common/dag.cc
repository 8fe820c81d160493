#include "common/dag.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/graph_spec.h"

namespace vitte::task {
absl::StatusOr<Dag> Dag::Build(
    size_t n, absl::FunctionRef<const std::string&(size_t)> ids,
    absl::FunctionRef<const std::vector<std::string>&(size_t)> deps) {
  absl::flat_hash_map<absl::string_view, int32_t> index;
  index.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto [it, inserted] = index.emplace(ids(i), static_cast<int32_t>(i));
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "duplicate task id ", Quoted(ids(i)), " (tasks #", it->second + 1,
          " and #", i + 1, ")"));
    }
  }

  // Built straight into flat arrays (a million tasks would otherwise mean
  // two million small vectors). Deps of each node are sorted and unique.
  Dag dag;
  std::vector<int64_t>& dep_offsets = dag.dep_offsets_;
  std::vector<int32_t>& dep_list = dag.dep_list_;
  dep_offsets.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t begin = static_cast<int64_t>(dep_list.size());
    for (const std::string& dep : deps(i)) {
      auto it = index.find(dep);
      if (it == index.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("task ", Quoted(ids(i)), " depends on unknown task ",
                         Quoted(dep)));
      }
      dep_list.push_back(it->second);
    }
    auto first = dep_list.begin() + begin;
    std::sort(first, dep_list.end());
    dep_list.erase(std::unique(first, dep_list.end()), dep_list.end());
    dep_offsets[i + 1] = static_cast<int64_t>(dep_list.size());
  }
  index = {};  // frees it before the arrays below are allocated
  // Dependents by counting sort: counts, prefix sums, then placement in
  // node order, so each node's dependents come out sorted too.
  std::vector<int64_t>& dependent_offsets = dag.dependent_offsets_;
  std::vector<int32_t>& dependent_list = dag.dependent_list_;
  dependent_offsets.assign(n + 1, 0);
  for (int32_t d : dep_list) ++dependent_offsets[d + 1];
  for (size_t i = 0; i < n; ++i) dependent_offsets[i + 1] += dependent_offsets[i];
  dependent_list.resize(dep_list.size());
  {
    std::vector<int64_t> next(dependent_offsets.begin(), dependent_offsets.end() - 1);
    for (size_t i = 0; i < n; ++i) {
      for (int32_t d : dag.deps(i)) dependent_list[next[d]++] = static_cast<int32_t>(i);
    }
  }

  // Kahn's algorithm: a node is removed once all its deps are removed. Nodes
  // left over sit on a cycle or downstream of one.
  std::vector<int32_t> unresolved(n);
  std::vector<int32_t> queue;
  queue.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    unresolved[i] = static_cast<int32_t>(dag.deps(i).size());
    if (unresolved[i] == 0) queue.push_back(static_cast<int32_t>(i));
  }
  for (size_t head = 0; head < queue.size(); ++head) {
    for (int32_t dependent : dag.dependents(queue[head])) {
      if (--unresolved[dependent] == 0) queue.push_back(dependent);
    }
  }
  if (queue.size() != n) {
    // Every leftover node has a leftover dependency, so walking leftover
    // deps from any leftover node must come back to a node already seen.
    // Example: a -> b -> c -> b walks a, b, c, b and reports b -> c -> b.
    int32_t start = 0;
    while (unresolved[start] == 0) ++start;
    std::vector<int32_t> path;
    std::vector<int32_t> position(n, -1);
    int32_t node = start;
    while (position[node] < 0) {
      position[node] = static_cast<int32_t>(path.size());
      path.push_back(node);
      for (int32_t d : dag.deps(node)) {
        if (unresolved[d] > 0) {
          node = d;
          break;
        }
      }
    }
    std::vector<int32_t> cycle(path.begin() + position[node], path.end());
    // Start the report at the task submitted first, so it reads the same
    // however the walk entered the cycle.
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()),
                cycle.end());
    cycle.push_back(cycle.front());
    // A cycle through thousands of tasks is told by its two ends, so that
    // the message stays readable (and small).
    constexpr size_t kShown = 100;
    auto join = [&](auto begin, auto end) {
      return absl::StrJoin(begin, end, " -> ",
                           [&](std::string* out, int32_t i) {
                             out->append(ids(i));
                           });
    };
    if (cycle.size() > kShown) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dependency cycle: ", join(cycle.begin(), cycle.begin() + kShown / 2),
          " -> ... (", cycle.size() - kShown, " more) -> ",
          join(cycle.end() - kShown / 2, cycle.end())));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("dependency cycle: ", join(cycle.begin(), cycle.end())));
  }

  return dag;
}

}  // namespace vitte::task
