#include "coordinator/decision_log.h"

#include "absl/strings/str_cat.h"
#include "common/json_quote.h"
#include "spdlog/spdlog.h"

namespace vitte::task {

std::string LogfmtPair(absl::string_view key, absl::string_view value) {
  bool quote = value.empty();
  for (char c : value) {
    quote |= c == ' ' || c == '"' || c == '=' || c == '\\' ||
             static_cast<unsigned char>(c) < 0x20;
  }
  return absl::StrCat(key, "=", quote ? JsonQuote(value) : std::string(value));
}

std::string FormatDecision(const TaskDecision& d) {
  std::string line = LogfmtPair("decision", d.decision);
  if (d.graph != 0) absl::StrAppend(&line, " graph=", d.graph);
  if (!d.task.empty()) absl::StrAppend(&line, " ", LogfmtPair("task", d.task));
  if (d.attempt != 0) absl::StrAppend(&line, " attempt=", d.attempt);
  if (!d.worker.empty()) absl::StrAppend(&line, " ", LogfmtPair("worker", d.worker));
  if (!d.details.empty()) absl::StrAppend(&line, " ", d.details);
  return line;
}

void NoteDecision(spdlog::level::level_enum level, const TaskDecision& d,
                  std::vector<DecisionLine>& lines) {
  if (!spdlog::should_log(level)) return;  // no formatting on the hot path
  lines.push_back({level, FormatDecision(d)});
}

void WriteDecisions(const std::vector<DecisionLine>& lines) {
  for (const DecisionLine& line : lines) spdlog::log(line.level, "{}", line.text);
}

}  // namespace vitte::task
