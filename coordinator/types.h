// Domain types shared by the coordinator's store, scheduler and services.
// Plain structs: no protobuf, no gRPC.
#ifndef VITTE_COORDINATOR_TYPES_H_
#define VITTE_COORDINATOR_TYPES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/graph_spec.h"
#include "common/output_stream.h"

namespace vitte::task {

// Values are stored in the database: never renumber.
enum class TaskState : int32_t {
  kPending = 1,
  kReady = 2,
  kRunning = 3,
  kSucceeded = 4,
  kFailed = 5,
  kSkipped = 6,
  kCancelled = 7,
};

enum class GraphState : int32_t {
  kRunning = 1,
  kSucceeded = 2,
  kFailed = 3,
  kCancelled = 4,
};

enum class AttemptState : int32_t {
  kRunning = 1,
  kSucceeded = 2,
  kFailed = 3,
  kLost = 4,
  kCancelled = 5,
};

bool IsFinished(TaskState s);
const char* TaskStateName(TaskState s);
const char* GraphStateName(GraphState s);
const char* AttemptStateName(AttemptState s);

using GraphId = int64_t;
using AttemptId = uint64_t;
using SessionId = uint64_t;

struct TaskCounts {
  int64_t pending = 0, ready = 0, running = 0, succeeded = 0, failed = 0,
          skipped = 0, cancelled = 0;

  void Add(TaskState s, int64_t n = 1);
  int64_t unfinished() const { return pending + ready + running; }
  int64_t total() const {
    return unfinished() + succeeded + failed + skipped + cancelled;
  }
  bool operator==(const TaskCounts&) const = default;
};

// What the worker reports about one attempt.
struct AttemptOutcome {
  AttemptId attempt_id = 0;
  bool success = false;
  int32_t exit_code = -1;
  int32_t signal = 0;
  bool timed_out = false;
  std::string error;
  std::string stdout_tail;
  std::string stderr_tail;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  // Bytes written to each stream in all; 0 from workers that do not count.
  uint64_t stdout_bytes = 0;
  uint64_t stderr_bytes = 0;
};

// Output of a running attempt: `data` starts at byte `offset` of its
// stream.
struct OutputChunk {
  AttemptId attempt_id = 0;
  OutputStream stream = OutputStream::kStdout;
  uint64_t offset = 0;
  std::string data;
};

// One dispatch of a task, as stored.
struct AttemptRecord {
  AttemptId id = 0;
  GraphId graph_id = 0;
  int32_t task_index = 0;
  int32_t number = 0;  // 1-based, per task
  std::string worker;
  SessionId session_id = 0;
  AttemptState state = AttemptState::kRunning;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  int32_t exit_code = -1;
  int32_t signal = 0;
  bool timed_out = false;
  std::string error;
  std::string stdout_tail;
  std::string stderr_tail;
  // Bytes written to each stream in all, as reported with the result; 0
  // without a result, or from a worker that does not count them.
  uint64_t stdout_bytes = 0;
  uint64_t stderr_bytes = 0;
};

// The mutable part of a task, as stored.
struct TaskStatus {
  TaskState state = TaskState::kPending;
  int32_t attempts = 0;  // attempts started
  int32_t failures = 0;  // attempts that failed on the task's own account
  int32_t skipped_because = -1;  // index of the failed/cancelled ancestor
  AttemptId current_attempt = 0;  // 0 unless running
  int32_t lost = 0;  // attempts lost with their worker
  // Not stored: a task ready again after a failure waits until then (retry
  // backoff); after a restart it is ready at once.
  int64_t not_before_ms = 0;
  // The sequence number of the last event about this task.
  uint64_t sequence = 0;
};

struct GraphRecord {
  GraphId id = 0;
  std::string name;
  std::string request_id;
  // The name of the token that submitted the graph; "" when the daemon
  // runs without tokens.
  std::string owner;
  GraphState state = GraphState::kRunning;
  bool cancel_requested = false;
  int64_t created_at_ms = 0;
  int64_t finished_at_ms = 0;
  // The sequence number of the last event about this graph or one of its
  // tasks.
  uint64_t sequence = 0;
};

// What a worker must run.
struct Assignment {
  AttemptId attempt_id = 0;
  GraphId graph_id = 0;
  std::string task_id;
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  std::string cwd;
  int64_t timeout_s = 0;
  // The task's labels, for the worker's own serve-label check.
  std::map<std::string, std::string> labels;
};

// A change of one task (or, with task_index < 0, of the graph), in the
// order it was committed. See GraphEvent in the proto.
struct TaskEvent {
  uint64_t sequence = 0;
  GraphId graph_id = 0;
  int32_t task_index = -1;
  std::string task_id;
  TaskState task_state = TaskState::kPending;
  AttemptId attempt_id = 0;
  std::string worker;
  int32_t exit_code = 0;
  std::string skipped_because;
  TaskCounts counts;
  GraphState graph_state = GraphState::kRunning;
  bool graph_finished = false;
  int64_t time_ms = 0;
  std::string graph_name;  // graph events only
  AttemptState attempt_state = AttemptState::kRunning;  // with attempt_id
  int32_t attempt_number = 0;
  std::string error;
};

// What a follower of events gets at once (see EventBatch in the proto).
struct EventBatch {
  std::vector<TaskEvent> events;  // in sequence order
  // Every change up to this sequence has been delivered.
  uint64_t cursor = 0;
  // The events give the latest state of what changed since the cursor
  // asked for, not every change.
  bool compacted = false;
  // The last batch: the graph followed finished.
  bool end = false;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_TYPES_H_
