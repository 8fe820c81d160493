// A validated directed acyclic graph over nodes 0..n-1, stored as compressed
// adjacency lists (two flat arrays per direction) so that a graph of a
// million tasks costs a few bytes per edge.
#ifndef VITTE_COMMON_DAG_H_
#define VITTE_COMMON_DAG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vitte::task {

// Immutable once built; safe to share between threads.
class Dag {
 public:
  Dag() = default;

  // Builds the graph of `n` nodes named ids(i) where node i depends on the
  // nodes named deps(i). Repeated dependencies count once.
  // INVALID_ARGUMENT: duplicate id ("duplicate task id "x""), unknown
  // dependency ("task "link" depends on unknown task "compil""), or a cycle
  // ("dependency cycle: a -> b -> a", following depends-on edges).
  static absl::StatusOr<Dag> Build(
      size_t n, absl::FunctionRef<const std::string&(size_t)> ids,
      absl::FunctionRef<const std::vector<std::string>&(size_t)> deps);

  size_t size() const { return dep_offsets_.empty() ? 0 : dep_offsets_.size() - 1; }
  // Nodes that node i depends on, without repeats.
  absl::Span<const int32_t> deps(size_t i) const {
    return Slice(dep_offsets_, dep_list_, i);
  }
  // Nodes that depend on node i.
  absl::Span<const int32_t> dependents(size_t i) const {
    return Slice(dependent_offsets_, dependent_list_, i);
  }

 private:
  static absl::Span<const int32_t> Slice(const std::vector<int64_t>& offsets,
                                         const std::vector<int32_t>& list,
                                         size_t i) {
    return absl::MakeConstSpan(list.data() + offsets[i],
                               offsets[i + 1] - offsets[i]);
  }

  // deps(i) is dep_list_[dep_offsets_[i] .. dep_offsets_[i+1]).
  std::vector<int64_t> dep_offsets_;
  std::vector<int32_t> dep_list_;
  std::vector<int64_t> dependent_offsets_;
  std::vector<int32_t> dependent_list_;
};

}  // namespace vitte::task

#endif  // VITTE_COMMON_DAG_H_
