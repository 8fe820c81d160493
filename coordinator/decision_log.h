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
#include <vector>

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

// A line to log once the decision is committed.
struct DecisionLine {
  spdlog::level::level_enum level;
  std::string text;
};

// Appends FormatDecision(d) to `lines` if `level` is logged at all (nothing
// is formatted otherwise). The coordinator writes them after the commit
// that holds the decisions, on its commit thread: not under its lock (a
// cancel of a million tasks is a million lines), and never for a decision
// that a crash undid. Dispatches and successes go at debug: at tens of
// thousands of tasks a second, info would be the bottleneck; every other
// decision at info or above.
void NoteDecision(spdlog::level::level_enum level, const TaskDecision& d,
                  std::vector<DecisionLine>& lines);
void WriteDecisions(const std::vector<DecisionLine>& lines);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_DECISION_LOG_H_
