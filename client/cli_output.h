// How the CLI prints graphs, tasks and workers: aligned tables for people,
// protobuf JSON for scripts, and progress lines while following a graph.
#ifndef VITTE_CLIENT_CLI_OUTPUT_H_
#define VITTE_CLIENT_CLI_OUTPUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task {


// "succeeded", "failed", ... (the enum name without its prefix, lowercase).
std::string StateName(v1::TaskState state);
std::string StateName(v1::GraphState state);
std::string StateName(v1::AttemptState state);

// Stable JSON (proto field names, defaults included), one document.
std::string ToJson(const google::protobuf::Message& message);
// The same on one line, ending with a newline (for NDJSON streams).
std::string ToJsonLine(const google::protobuf::Message& message);

// Prints "vitte-task: <message>" on stderr; returns 1, the exit code of a
// command that failed.
int Fail(const absl::Status& status);

// Rows of cells printed with columns padded to their widest cell.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

void PrintGraphStatus(std::ostream& out, const v1::Graph& graph);
void PrintGraphList(std::ostream& out, const std::vector<v1::GraphSummary>& graphs);
void PrintWorkers(std::ostream& out, const std::vector<v1::WorkerInfo>& workers);

// One line for an event worth telling a person about (a task started or
// finished), or nothing.
std::string ProgressLine(const v1::GraphEvent& event);

// A task's output for `logs --output json`: one object with the attempt
// (number, id, state, worker), whether it finished, and per stream read
// ("stdout", "stderr") its text, "<stream>_truncated" and "<stream>_bytes"
// (total written, 0 until the attempt reported). `logs` holds every
// response's text appended, truncated flags or'ed, the rest from the last
// response. Bytes that are not UTF-8 become U+FFFD.
std::string LogsJson(const std::string& graph_id, const std::string& task_id,
                     const v1::GetLogsResponse& logs, bool with_stdout,
                     bool with_stderr);

// What went wrong in a finished graph: each failed task with its exit
// status and the end of its stderr, and how many tasks were skipped.
void PrintFailures(std::ostream& out, const v1::Graph& graph);

}  // namespace vitte::task

#endif  // VITTE_CLIENT_CLI_OUTPUT_H_
