// The domain form of a submitted graph, and its validation. Knows nothing of
// protobuf; coordinator/proto_convert.h maps the wire form onto it.
#ifndef VITTE_COMMON_GRAPH_SPEC_H_
#define VITTE_COMMON_GRAPH_SPEC_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dag.h"

namespace vitte::task {

struct TaskSpec {
  std::string id;
  std::vector<std::string> command;  // argv, non-empty
  std::vector<std::string> deps;     // ids of tasks of the same graph
  std::map<std::string, std::string> env;
  std::string cwd;
  int32_t priority = 0;
  int32_t max_attempts = 1;  // >= 1 once normalised
  int64_t timeout_s = 0;     // 0 = no limit
  std::map<std::string, std::string> labels;

  bool operator==(const TaskSpec&) const = default;
};

struct GraphSpec {
  std::string name;
  std::vector<TaskSpec> tasks;
};

// Bounds on what one graph may hold, so that one request cannot exhaust the
// daemon's memory or the database.
struct GraphLimits {
  int64_t max_tasks = 2'000'000;
  int64_t max_deps_per_task = 10'000;
  int64_t max_total_deps = 10'000'000;  // edges of the whole graph
  int64_t max_id_bytes = 256;
  int64_t max_name_bytes = 1024;
  int64_t max_command_args = 10'000;
  int64_t max_command_bytes = 1 << 20;  // argv + env + cwd of one task
  int64_t max_attempts = 100;
  int64_t max_timeout_s = 7 * 24 * 3600;
};

// Checks a graph and builds its topology. Normalises `spec` in place
// (max_attempts 0 -> 1). INVALID_ARGUMENT names the offending task: empty
// graph, duplicate id, bad id, empty command, unknown dependency, cycle
// (spelled as a path), or a limit exceeded.
absl::StatusOr<Dag> ValidateGraphSpec(GraphSpec& spec,
                                      const GraphLimits& limits = {});

// `text` in double quotes for an error message, cut to its first 64 bytes
// (with "...") so that a huge bad input does not come back in full.
std::string Quoted(absl::string_view text);

// Checks one task id: non-empty, at most `max_bytes`, no whitespace or
// control characters.
absl::Status ValidateTaskId(const std::string& id, int64_t max_bytes);

}  // namespace vitte::task

#endif  // VITTE_COMMON_GRAPH_SPEC_H_
