// How the CLI follows graphs (`watch`, `submit --wait`, `retry --wait`,
// `run`): a live view on a terminal, one line per change otherwise, or one
// JSON EventBatch per line for scripts.
#ifndef VITTE_CLIENT_CLI_FOLLOW_H_
#define VITTE_CLIENT_CLI_FOLLOW_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "client/client.h"

namespace vitte::task {

enum class FollowStyle {
  kLive,   // redrawn in place: the output is a terminal
  kLines,  // one line per change worth telling
  kJson,   // one EventBatch per line (NDJSON), resumable from its cursor
};

// The style for `fd` (a terminal gets kLive) unless `json`.
FollowStyle FollowStyleFor(int fd, bool json);

// Follows `graph_id` ("" = every graph, until interrupted) after sequence
// `after`, writing to `out`. For one graph, then prints what failed (not
// in kJson). Returns the exit code: 0 only if every task succeeded.
// A broken stream is resumed for up to `reconnect_for` (0 for `run`, whose
// coordinator is in the process: when it stops, there is nothing to wait
// for).
int FollowGraph(Client& client, const std::string& graph_id, uint64_t after,
                FollowStyle style, std::ostream& out,
                absl::Duration reconnect_for = absl::Seconds(60));

}  // namespace vitte::task

#endif  // VITTE_CLIENT_CLI_FOLLOW_H_
