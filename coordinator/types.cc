#include "coordinator/types.h"

namespace vitte::task {

bool IsFinished(TaskState s) {
  return s == TaskState::kSucceeded || s == TaskState::kFailed ||
         s == TaskState::kSkipped || s == TaskState::kCancelled;
}

const char* TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kPending: return "pending";
    case TaskState::kReady: return "ready";
    case TaskState::kRunning: return "running";
    case TaskState::kSucceeded: return "succeeded";
    case TaskState::kFailed: return "failed";
    case TaskState::kSkipped: return "skipped";
    case TaskState::kCancelled: return "cancelled";
  }
  return "unknown";
}

const char* GraphStateName(GraphState s) {
  switch (s) {
    case GraphState::kRunning: return "running";
    case GraphState::kSucceeded: return "succeeded";
    case GraphState::kFailed: return "failed";
    case GraphState::kCancelled: return "cancelled";
  }
  return "unknown";
}

const char* AttemptStateName(AttemptState s) {
  switch (s) {
    case AttemptState::kRunning: return "running";
    case AttemptState::kSucceeded: return "succeeded";
    case AttemptState::kFailed: return "failed";
    case AttemptState::kLost: return "lost";
    case AttemptState::kCancelled: return "cancelled";
  }
  return "unknown";
}

void TaskCounts::Add(TaskState s, int64_t n) {
  switch (s) {
    case TaskState::kPending: pending += n; break;
    case TaskState::kReady: ready += n; break;
    case TaskState::kRunning: running += n; break;
    case TaskState::kSucceeded: succeeded += n; break;
    case TaskState::kFailed: failed += n; break;
    case TaskState::kSkipped: skipped += n; break;
    case TaskState::kCancelled: cancelled += n; break;
  }
}

}  // namespace vitte::task
