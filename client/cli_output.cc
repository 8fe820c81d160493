#include "client/cli_output.h"

#include <iostream>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/json_quote.h"
#include "google/protobuf/util/json_util.h"

namespace vitte::task {
namespace {

std::string StripPrefix(const std::string& name, absl::string_view prefix) {
  std::string out = name.substr(std::min(name.size(), prefix.size()));
  return absl::AsciiStrToLower(out);
}

std::string FormatTime(int64_t ms) {
  if (ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(ms),
                          absl::LocalTimeZone());
}

std::string FormatDuration(int64_t start_ms, int64_t end_ms) {
  if (start_ms <= 0 || end_ms < start_ms) return "-";
  absl::Duration d = absl::Milliseconds(end_ms - start_ms);
  if (d < absl::Seconds(1)) return absl::StrCat(end_ms - start_ms, "ms");
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(100)));
}

std::string Progress(const v1::TaskCounts& c) {
  int64_t done = c.succeeded() + c.failed() + c.skipped() + c.cancelled();
  return absl::StrCat(done, "/", c.total());
}

// The last `n` lines of `text`.
std::string LastLines(const std::string& text, size_t n) {
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(text), '\n');
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - n);
  return absl::StrJoin(lines, "\n");
}

// `text` with every byte that is not part of a valid UTF-8 sequence
// replaced by U+FFFD, so that it can go into a JSON string.
std::string ValidUtf8(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3
                           : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = len > 0 && i + len <= text.size();
    for (size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    if (valid && len > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF.
      uint32_t cp = c & (0xFF >> (len + 1));
      for (size_t k = 1; k < len; ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
      }
      const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
      valid = cp >= min[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (!valid) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    out.append(text.data() + i, len);
    i += len;
  }
  return out;
}

}  // namespace

std::string StateName(v1::TaskState s) {
  return StripPrefix(v1::TaskState_Name(s), "TASK_STATE_");
}
std::string StateName(v1::GraphState s) {
  return StripPrefix(v1::GraphState_Name(s), "GRAPH_STATE_");
}
std::string StateName(v1::AttemptState s) {
  return StripPrefix(v1::AttemptState_Name(s), "ATTEMPT_STATE_");
}

namespace {

std::string JsonOf(const google::protobuf::Message& message, bool whitespace) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = whitespace;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  return JsonOf(message, /*whitespace=*/true);
}

std::string ToJsonLine(const google::protobuf::Message& message) {
  return JsonOf(message, /*whitespace=*/false) + "\n";
}

int Fail(const absl::Status& status) {
  std::cerr << "vitte-task: " << status.message() << "\n";
  return 1;
}

void PrintTable(std::ostream& out,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    out << absl::StripTrailingAsciiWhitespace(line) << "\n";
  }
}

void PrintGraphStatus(std::ostream& out, const v1::Graph& graph) {
  const v1::GraphSummary& s = graph.summary();
  const v1::TaskCounts& c = s.counts();
  out << "graph " << s.graph_id() << " \"" << s.name() << "\": "
      << StateName(s.state()) << ", " << Progress(c) << " tasks done ("
      << c.succeeded() << " succeeded, " << c.failed() << " failed, "
      << c.skipped() << " skipped, " << c.cancelled() << " cancelled, "
      << c.running() << " running, " << c.ready() + c.pending()
      << " waiting)\n\n";
  std::vector<std::vector<std::string>> rows = {
      {"TASK", "STATE", "ATTEMPTS", "WORKER", "EXIT", "DURATION", "NOTE"}};
  for (const v1::Task& t : graph.tasks()) {
    std::string worker = "-", exit = "-", duration = "-", note;
    std::string attempts = "0";
    if (t.attempts_size() > 0) {
      const v1::Attempt& a = t.attempts(t.attempts_size() - 1);
      attempts = absl::StrCat(a.number());
      worker = a.worker();
      if (a.state() != v1::ATTEMPT_STATE_RUNNING) {
        exit = a.signal() != 0 ? absl::StrCat("signal ", a.signal())
                               : absl::StrCat(a.exit_code());
        duration = FormatDuration(a.started_at_ms(), a.finished_at_ms());
      }
      if (a.timed_out()) note = "timed out";
      if (!a.error().empty() && t.state() != v1::TASK_STATE_SUCCEEDED) {
        note = a.error();
      }
    }
    if (t.state() == v1::TASK_STATE_SKIPPED) {
      note = absl::StrCat("because \"", t.skipped_because(), "\" did not succeed");
    }
    rows.push_back({t.spec().id(), StateName(t.state()), attempts, worker, exit,
                    duration, note});
  }
  PrintTable(out, rows);
}

void PrintGraphList(std::ostream& out,
                    const std::vector<v1::GraphSummary>& graphs) {
  std::vector<std::vector<std::string>> rows = {
      {"GRAPH", "NAME", "STATE", "DONE", "FAILED", "CREATED", "FINISHED"}};
  for (const v1::GraphSummary& g : graphs) {
    rows.push_back({g.graph_id(), g.name(), StateName(g.state()),
                    Progress(g.counts()),
                    absl::StrCat(g.counts().failed()),
                    FormatTime(g.created_at_ms()),
                    FormatTime(g.finished_at_ms())});
  }
  PrintTable(out, rows);
}

void PrintWorkers(std::ostream& out,
                  const std::vector<v1::WorkerInfo>& workers) {
  std::vector<std::vector<std::string>> rows = {{"WORKER", "STATE", "SLOTS",
                                                 "RUNNING", "LABELS",
                                                 "SERVES ONLY", "CONNECTED"}};
  // "k=v,..." sorted, or "-".
  auto joined = [](const google::protobuf::Map<std::string, std::string>& m) {
    std::vector<std::string> kv;
    for (const auto& [k, v] : m) kv.push_back(absl::StrCat(k, "=", v));
    std::sort(kv.begin(), kv.end());
    return kv.empty() ? std::string("-") : absl::StrJoin(kv, ",");
  };
  for (const v1::WorkerInfo& w : workers) {
    std::string state = !w.connected() ? "disconnected"
                        : w.draining()  ? "draining"
                                        : "ready";
    rows.push_back({w.name(), state, absl::StrCat(w.slots()),
                    absl::StrCat(w.running()), joined(w.labels()),
                    joined(w.serve_labels()), FormatTime(w.connected_at_ms())});
  }
  PrintTable(out, rows);
}

std::string ProgressLine(const v1::GraphEvent& e) {
  if (e.task_id().empty()) return "";
  std::string prefix = absl::StrCat("[", Progress(e.counts()), "] ");
  switch (e.task_state()) {
    case v1::TASK_STATE_RUNNING:
      return absl::StrCat(prefix, e.task_id(), " started",
                          e.worker().empty() ? "" : " on ", e.worker());
    case v1::TASK_STATE_SUCCEEDED:
      return absl::StrCat(prefix, e.task_id(), " succeeded");
    case v1::TASK_STATE_FAILED:
      return absl::StrCat(prefix, e.task_id(), " FAILED (exit code ",
                          e.exit_code(), ")");
    case v1::TASK_STATE_SKIPPED:
      return absl::StrCat(prefix, e.task_id(), " skipped (because \"",
                          e.skipped_because(), "\" did not succeed)");
    case v1::TASK_STATE_CANCELLED:
      return absl::StrCat(prefix, e.task_id(), " cancelled");
    case v1::TASK_STATE_READY:
      // Back to ready after an attempt means a retry or a lost worker.
      if (e.attempt_id() != 0) {
        return absl::StrCat(prefix, e.task_id(), " will run again (attempt ",
                            e.attempt_id(), " did not succeed)");
      }
      return "";
    default:
      return "";
  }
}

void PrintFailures(std::ostream& out, const v1::Graph& graph) {
  int skipped = 0;
  for (const v1::Task& t : graph.tasks()) {
    if (t.state() == v1::TASK_STATE_SKIPPED) ++skipped;
    if (t.state() != v1::TASK_STATE_FAILED) continue;
    out << "task \"" << t.spec().id() << "\" failed";
    if (t.attempts_size() > 0) {
      const v1::Attempt& a = t.attempts(t.attempts_size() - 1);
      if (!a.error().empty()) {
        out << ": " << a.error();
      } else if (a.timed_out()) {
        out << ": timed out after " << t.spec().timeout_s() << "s";
      } else if (a.signal() != 0) {
        out << ": killed by signal " << a.signal();
      } else {
        out << ": exit code " << a.exit_code();
      }
      out << " (attempt " << a.number() << " on " << a.worker() << ")\n";
      std::string tail = LastLines(a.stderr_tail(), 10);
      if (tail.empty()) tail = LastLines(a.stdout_tail(), 10);
      if (!tail.empty()) {
        for (absl::string_view line : absl::StrSplit(tail, '\n')) {
          out << "    | " << line << "\n";
        }
      }
    } else {
      out << "\n";
    }
  }
  if (skipped > 0) out << skipped << " task(s) skipped\n";
}

std::string LogsJson(const std::string& graph_id, const std::string& task_id,
                     const v1::GetLogsResponse& logs, bool with_stdout,
                     bool with_stderr) {
  std::string out = absl::StrCat(
      "{\n  \"graph_id\": ", JsonQuote(graph_id),
      ",\n  \"task_id\": ", JsonQuote(ValidUtf8(task_id)),
      ",\n  \"attempt\": ", logs.attempt(),
      ",\n  \"attempt_id\": \"", logs.attempt_id(),
      "\",\n  \"state\": ", JsonQuote(StateName(logs.state())),
      ",\n  \"worker\": ", JsonQuote(ValidUtf8(logs.worker())),
      ",\n  \"finished\": ", logs.finished() ? "true" : "false");
  auto stream = [&](absl::string_view name, const v1::LogText& text) {
    absl::StrAppend(&out, ",\n  \"", name, "\": ", JsonQuote(ValidUtf8(text.data())),
                    ",\n  \"", name, "_truncated\": ",
                    text.truncated() ? "true" : "false", ",\n  \"", name,
                    "_bytes\": ", text.total_bytes());
  };
  if (with_stdout) stream("stdout", logs.stdout_log());
  if (with_stderr) stream("stderr", logs.stderr_log());
  out += "\n}\n";
  return out;
}

}  // namespace vitte::task
