// One log line per decision the coordinator takes on a task: dispatched,
// succeeded, failed, retried, lost, requeued, skipped, cancelled, fenced.
// In logfmt (key=value), with the ids that let an operator follow one task
// or attempt through the daemon's log (`grep 'attempt=1234 '`), e.g.
//   decision=lost graph=12 task=compile-a attempt=345 worker=build-12
//   reason="lease expired"
// With --log-format json the line is the "message" of its object.
#ifndef VITTE_COORDINATOR_DECISION_LOG_H_
#define VITTE_COORDINATOR_DECISION_LOG_H_

#include <string>

#include "absl/strings/string_view.h"
#include "coordinator/types.h"
#include "spdlog/common.h"

namespace vitte::task {

struct TaskDecision {
  absl::string_view decision;
  GraphId graph = 0;  // 0: unknown (omitted), as for a fenced result
  absl::string_view task;  // empty: unknown (omitted)
  AttemptId attempt = 0;  // 0: none (omitted)
  absl::string_view worker;  // empty: none (omitted)
  // Further key=value pairs, already formatted (see LogfmtPair).
  std::string details;
};

// `key=value`, the value quoted (as a JSON string) when it is empty or
// holds a space, a quote, an '=' or a control character.
std::string LogfmtPair(absl::string_view key, absl::string_view value);

std::string FormatDecision(const TaskDecision& d);

// Logs FormatDecision(d) at `level`. Dispatches and successes are logged at
// debug: at tens of thousands of tasks a second, info would be the
// bottleneck; every other decision at info or above.
void LogDecision(spdlog::level::level_enum level, const TaskDecision& d);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_DECISION_LOG_H_
