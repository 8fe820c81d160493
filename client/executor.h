// The in-process API: run a graph of C++ callables on a thread pool, with the
// same validation and failure semantics as the distributed coordinator.
//
//   vitte::task::TaskExecutor exec(4);
//   exec.add(vitte::task::Task("analyse", [] { Analyse(); }));
//   exec.add(vitte::task::Task::depends_on("build", {"analyse"},
//                                          [] { return Build(); }));
//   absl::Status st = exec.run_all();
#ifndef VITTE_CLIENT_EXECUTOR_H_
#define VITTE_CLIENT_EXECUTOR_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/dag.h"

namespace vitte::task {

namespace executor_internal {

// A task function takes no argument and returns void or absl::Status. Other
// results (bool, int, StatusOr) are refused at compile time rather than
// silently discarded, since `return false;` would otherwise read as success.
template <typename F>
concept VoidFn =
    std::is_invocable_v<F&> && std::is_void_v<std::invoke_result_t<F&>>;
template <typename F>
concept StatusFn = std::is_invocable_r_v<absl::Status, F&> &&
    !std::is_void_v<std::invoke_result_t<F&>>;
template <typename F>
concept ReturnsVoidOrStatus = VoidFn<F> || StatusFn<F>;
template <typename F>
concept TaskFn = std::move_constructible<F> && ReturnsVoidOrStatus<F>;

// Callables that can be empty. An empty one leaves the task without a
// function, which run_all() reports instead of invoking it.
template <typename F>
struct IsNullable : std::is_pointer<F> {};
template <typename Sig>
struct IsNullable<std::function<Sig>> : std::true_type {};
template <typename Sig>
struct IsNullable<absl::AnyInvocable<Sig>> : std::true_type {};

template <TaskFn F>
absl::AnyInvocable<absl::Status()> Wrap(F fn) {
  if constexpr (IsNullable<F>::value) {
    if (fn == nullptr) return nullptr;
  }
  if constexpr (VoidFn<F>) {
    return [fn = std::move(fn)]() mutable -> absl::Status {
      std::invoke(fn);
      return absl::OkStatus();
    };
  } else {
    return [fn = std::move(fn)]() mutable -> absl::Status {
      return std::invoke(fn);
    };
  }
}

}  // namespace executor_internal

// One unit of work: an id, the ids of the tasks it depends on, a priority and
// a function returning void or absl::Status. The function may be move-only
// and mutable; it runs at most once, on a pool thread. Move-only value type;
// thread-compatible.
class Task {
 public:
  // A task without dependencies. The id must be non-empty, printable, without
  // whitespace and at most 256 bytes (checked by TaskExecutor::run_all()).
  template <executor_internal::TaskFn F>
  Task(std::string id, F fn)
      : id_(std::move(id)), fn_(executor_internal::Wrap(std::move(fn))) {}

  // A task that starts only after every task named in `deps` succeeded.
  // Naming a dependency twice is the same as naming it once.
  template <executor_internal::TaskFn F>
  static Task depends_on(std::string id, std::vector<std::string> deps, F fn) {
    Task task(std::move(id), std::move(fn));
    task.deps_ = std::move(deps);
    return task;
  }

  Task(Task&&) = default;
  Task& operator=(Task&&) = default;

  // Among tasks whose dependencies all succeeded, higher priority starts
  // first; ties go to the task added first. Default 0; may be negative.
  Task& with_priority(int priority) & {
    priority_ = priority;
    return *this;
  }
  Task&& with_priority(int priority) && {
    priority_ = priority;
    return std::move(*this);
  }

  const std::string& id() const { return id_; }
  const std::vector<std::string>& deps() const { return deps_; }
  int priority() const { return priority_; }

 private:
  friend class TaskExecutor;

  std::string id_;
  std::vector<std::string> deps_;
  int priority_ = 0;
  // Empty when constructed from an empty callable, and once moved to the
  // pool thread that runs it.
  absl::AnyInvocable<absl::Status()> fn_;
};

// Runs a graph of Tasks on a pool of threads, each task once its dependencies
// succeeded. A task fails when its function returns a non-OK status or
// throws; every task that depends on it, directly or not, is then skipped
// while the rest of the graph goes on.
//
// Thread-safe: every method locks; task functions run on pool threads and may
// query the executor, but run_all() called from a task returns
// FAILED_PRECONDITION and add() from a task is too late (see add()).
class TaskExecutor {
 public:
  enum class State { kPending, kRunning, kSucceeded, kFailed, kSkipped };

  struct TaskResult {
    State state = State::kPending;
    // For kFailed: the status the function returned, or UNKNOWN with the
    // exception's what() if it threw. OK otherwise.
    absl::Status error;
    // For kSkipped: the id of the failed task that caused the skip, the
    // nearest one on a dependency path. Empty otherwise.
    std::string skipped_because;
  };

  // `threads` workers run tasks, so at most that many run at once; 0 means
  // std::thread::hardware_concurrency(). The threads exist only while
  // run_all() runs (fewer if the graph has fewer tasks).
  explicit TaskExecutor(size_t threads);
  TaskExecutor(const TaskExecutor&) = delete;
  TaskExecutor& operator=(const TaskExecutor&) = delete;
  ~TaskExecutor();

  // Queues `task` for the next run_all(). Nothing is checked here: a bad id,
  // an unknown dependency or a cycle is reported by run_all(). A task added
  // once run_all() has started is never run (and is not queryable); a later
  // run_all() call reports how many were dropped.
  void add(Task task);

  // Validates the graph of every added task, then runs it and blocks until
  // every task succeeded, failed or was skipped.
  //
  // OK: every task succeeded, or no task was added.
  // INVALID_ARGUMENT: bad task id, task without a function, duplicate id,
  //   unknown dependency or cycle (spelled as a path); nothing ran, and the
  //   caller may add() the missing tasks and call again.
  // UNKNOWN: at least one task failed. The message names the failed tasks
  //   with their errors and the skipped ones with their cause, bounded to
  //   the first few of each; result() has the details of every task.
  // FAILED_PRECONDITION: run_all() already ran a non-empty graph (it runs
  //   once; use a new TaskExecutor), possibly still running.
  //
  // UNKNOWN is used for task failures, not the failed tasks' own codes,
  // because the executor cannot tell what a user's error means (retrying
  // may or may not help), and a distinct code lets callers tell "a task
  // failed" apart from "the graph is malformed" (INVALID_ARGUMENT) and
  // "misuse" (FAILED_PRECONDITION) even when a task itself returned one of
  // those.
  absl::Status run_all();

  // The state of the task added as `id` (the first one if the id was added
  // twice): kPending before run_all(), kRunning during its function.
  // NOT_FOUND if no such task was added before run_all() started.
  absl::StatusOr<State> state(absl::string_view id) const;
  // As state(), with the failure's error and the skip's cause.
  absl::StatusOr<TaskResult> result(absl::string_view id) const;

 private:
  // Pool thread body: takes the best ready task, runs it without the lock,
  // records its outcome; returns once every task finished.
  void WorkerLoop();
  // Records the outcome of task i and makes its dependents ready (success)
  // or skipped (failure). Returns how many tasks became ready.
  size_t FinishLocked(int32_t i, absl::Status status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ValidateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SummaryLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t threads_;

  mutable absl::Mutex mu_;
  // Signalled when a task becomes ready or the last task finishes.
  absl::CondVar work_cv_;

  // Fixed once run_all() has started (later add()s are dropped), so the
  // indices below stay valid.
  std::vector<Task> tasks_ ABSL_GUARDED_BY(mu_);
  // id -> index in tasks_ of the first task added with that id.
  absl::flat_hash_map<std::string, int32_t> index_ ABSL_GUARDED_BY(mu_);
  // Set by a run_all() whose graph was valid and non-empty; never reset.
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  size_t dropped_adds_ ABSL_GUARDED_BY(mu_) = 0;

  // The outcome of one task; TaskResult without a copy of the cause's id.
  struct Outcome {
    State state = State::kPending;
    // For kSkipped: index of the failed task that caused it.
    int32_t skipped_because = -1;
    absl::Status error;
  };

  // An entry of the ready heap; the priority is copied so that ordering
  // needs no access to tasks_.
  struct Ready {
    int priority;
    int32_t index;
    // Heap order: true if `a` starts after `b` (lower priority, or the same
    // priority and added later).
    static bool StartsAfter(const Ready& a, const Ready& b) {
      if (a.priority != b.priority) return a.priority < b.priority;
      return a.index > b.index;
    }
  };

  // Everything below is sized to tasks_ when run_all() starts.
  Dag dag_ ABSL_GUARDED_BY(mu_);
  std::vector<Outcome> outcomes_ ABSL_GUARDED_BY(mu_);
  // For a kPending task, how many of its deps have not succeeded yet; the
  // task is pushed on ready_ when this drops to 0.
  std::vector<int32_t> unfinished_deps_ ABSL_GUARDED_BY(mu_);
  // Tasks whose deps all succeeded and that no thread took yet, as a heap
  // ordered by Ready::StartsAfter (top = highest priority, earliest added).
  std::vector<Ready> ready_ ABSL_GUARDED_BY(mu_);
  // Tasks not yet succeeded, failed or skipped. Workers exit when it is 0.
  size_t unfinished_ ABSL_GUARDED_BY(mu_) = 0;
  // Task indices in the order they failed, for the summary.
  std::vector<int32_t> failed_ ABSL_GUARDED_BY(mu_);
};

// "PENDING", "RUNNING", ... for messages and test output.
absl::string_view StateName(TaskExecutor::State state);

}  // namespace vitte::task

#endif  // VITTE_CLIENT_EXECUTOR_H_
