#include "client/executor.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/graph_spec.h"
#include "common/status_macros.h"

namespace vitte::task {
namespace {

// The coordinator's id limit, so that a graph that runs here can also be
// submitted there.
constexpr int64_t kMaxIdBytes = GraphLimits{}.max_id_bytes;

// How many failed and skipped tasks run_all()'s message names, and how much
// of each error it quotes, so that a graph of a million failing tasks still
// yields a message of a few kilobytes.
constexpr size_t kMaxListed = 10;
constexpr size_t kMaxErrorBytes = 200;

// Runs a user's function. It is the one place where exceptions are caught:
// the function is not our code and may throw; we turn that into a failure.
absl::Status Invoke(absl::AnyInvocable<absl::Status()>& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return absl::UnknownError(e.what());
  } catch (...) {
    return absl::UnknownError(
        "threw an exception not derived from std::exception");
  }
}

// `s` cut to at most kMaxErrorBytes, backing off to a UTF-8 character
// boundary, with "..." when cut.
std::string Bounded(std::string s) {
  if (s.size() <= kMaxErrorBytes) return s;
  size_t end = kMaxErrorBytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  s.resize(end);
  s.append("...");
  return s;
}

}  // namespace

absl::string_view StateName(TaskExecutor::State state) {
  switch (state) {
    case TaskExecutor::State::kPending:
      return "PENDING";
    case TaskExecutor::State::kRunning:
      return "RUNNING";
    case TaskExecutor::State::kSucceeded:
      return "SUCCEEDED";
    case TaskExecutor::State::kFailed:
      return "FAILED";
    case TaskExecutor::State::kSkipped:
      return "SKIPPED";
  }
  return "UNKNOWN";
}

TaskExecutor::TaskExecutor(size_t threads)
    : threads_(threads != 0
                   ? threads
                   : std::max<size_t>(1, std::thread::hardware_concurrency())) {
}

TaskExecutor::~TaskExecutor() = default;

void TaskExecutor::add(Task task) {
  absl::MutexLock lock(&mu_);
  // Indices into tasks_ are in use by the run; `task` is destroyed after
  // the lock is released, so its captures are not destroyed under it.
  if (started_) {
    ++dropped_adds_;
    return;
  }
  index_.try_emplace(task.id_, static_cast<int32_t>(tasks_.size()));
  tasks_.push_back(std::move(task));
}

absl::Status TaskExecutor::ValidateLocked() {
  if (tasks_.size() >
      static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph has ", tasks_.size(), " tasks, more than the limit of ",
        std::numeric_limits<int32_t>::max()));
  }
  for (size_t i = 0; i < tasks_.size(); ++i) {
    const Task& task = tasks_[i];
    absl::Status id_status = ValidateTaskId(task.id_, kMaxIdBytes);
    if (!id_status.ok()) {
      // Same wording as ValidateGraphSpec: the id itself may be unprintable.
      return absl::InvalidArgumentError(
          absl::StrCat("task #", i + 1, ": ", id_status.message()));
    }
    if (task.fn_ == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("task \"", task.id_, "\" has no function"));
    }
  }
  // The lambdas run within this call, under the lock; the analysis does
  // not see that through a lambda, hence the pointer.
  const std::vector<Task>* tasks = &tasks_;
  ASSIGN_OR_RETURN(
      dag_, Dag::Build(
                tasks->size(),
                [&](size_t i) -> const std::string& { return (*tasks)[i].id_; },
                [&](size_t i) -> const std::vector<std::string>& {
                  return (*tasks)[i].deps_;
                }));
  return absl::OkStatus();
}

absl::Status TaskExecutor::run_all() {
  size_t pool_size = 0;
  {
    absl::MutexLock lock(&mu_);
    if (started_) {
      std::string dropped;
      if (dropped_adds_ > 0) {
        dropped = absl::StrCat("; ", dropped_adds_,
                               " task(s) added after it started were not run");
      }
      return absl::FailedPreconditionError(
          absl::StrCat("run_all() already ran this executor's tasks", dropped,
                       "; use a new TaskExecutor"));
    }
    if (tasks_.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(ValidateLocked());
    started_ = true;

    const size_t n = tasks_.size();
    outcomes_.assign(n, Outcome{});
    unfinished_deps_.resize(n);
    ready_.clear();
    for (size_t i = 0; i < n; ++i) {
      unfinished_deps_[i] = static_cast<int32_t>(dag_.deps(i).size());
      if (unfinished_deps_[i] == 0) {
        ready_.push_back({tasks_[i].priority_, static_cast<int32_t>(i)});
      }
    }
    std::make_heap(ready_.begin(), ready_.end(), Ready::StartsAfter);
    unfinished_ = n;
    failed_.clear();
    pool_size = std::min(threads_, n);
  }

  // The threads live for this call only: joining them is what tells us the
  // run is over, and makes everything they wrote visible here.
  std::vector<std::thread> pool;
  pool.reserve(pool_size);
  for (size_t t = 0; t < pool_size; ++t) {
    pool.emplace_back([this] { WorkerLoop(); });
  }
  for (std::thread& thread : pool) thread.join();

  absl::MutexLock lock(&mu_);
  return SummaryLocked();
}

void TaskExecutor::WorkerLoop() {
  mu_.Lock();
  while (true) {
    while (ready_.empty() && unfinished_ > 0) work_cv_.Wait(&mu_);
    // Nothing ready and nothing unfinished: the run is over. (Nothing ready
    // but tasks unfinished means others are running; their completion
    // signals us.)
    if (ready_.empty()) break;

    std::pop_heap(ready_.begin(), ready_.end(), Ready::StartsAfter);
    const int32_t i = ready_.back().index;
    ready_.pop_back();
    outcomes_[i].state = State::kRunning;
    absl::Status status;
    {
      // Moved out so that the call and the destruction of its captures
      // happen without the lock, and the captures are freed as soon as the
      // task is done.
      absl::AnyInvocable<absl::Status()> fn = std::move(tasks_[i].fn_);
      mu_.Unlock();
      status = Invoke(fn);
    }
    mu_.Lock();

    const size_t newly_ready = FinishLocked(i, std::move(status));
    // This thread takes one of the newly ready tasks on its next iteration;
    // wake one sleeper for each of the others.
    for (size_t k = 1; k < newly_ready; ++k) work_cv_.Signal();
    if (unfinished_ == 0) work_cv_.SignalAll();
  }
  mu_.Unlock();
}

size_t TaskExecutor::FinishLocked(int32_t i, absl::Status status) {
  --unfinished_;
  if (status.ok()) {
    outcomes_[i].state = State::kSucceeded;
    size_t newly_ready = 0;
    for (int32_t d : dag_.dependents(i)) {
      if (--unfinished_deps_[d] == 0) {
        ready_.push_back({tasks_[d].priority_, d});
        std::push_heap(ready_.begin(), ready_.end(), Ready::StartsAfter);
        ++newly_ready;
      }
    }
    return newly_ready;
  }

  outcomes_[i].state = State::kFailed;
  outcomes_[i].error = std::move(status);
  failed_.push_back(i);
  // Skip every transitive dependent. None of them has started, since each
  // waits (through a path) on i, which did not succeed. One that is already
  // skipped was reached from an earlier failure together with all its own
  // dependents, so the walk stops there: each task is skipped once per run
  // and all the walks together cost O(tasks + edges).
  // Example: a fails, b and c depend on a, d on b and c: d is reached twice
  // but skipped (and expanded) once, because of "a".
  std::vector<int32_t> stack(dag_.dependents(i).begin(),
                             dag_.dependents(i).end());
  while (!stack.empty()) {
    const int32_t d = stack.back();
    stack.pop_back();
    if (outcomes_[d].state != State::kPending) continue;
    outcomes_[d].state = State::kSkipped;
    outcomes_[d].skipped_because = i;
    --unfinished_;
    for (int32_t next : dag_.dependents(d)) stack.push_back(next);
  }
  return 0;
}

absl::Status TaskExecutor::SummaryLocked() const {
  if (failed_.empty()) return absl::OkStatus();

  // Worked example:
  //   2 tasks failed: "build" (INTERNAL: boom), "lint" (UNKNOWN: bad);
  //   3 skipped: "test", "package" (because "build" failed), "doc" (because
  //   "lint" failed)
  std::string message = absl::StrCat(
      failed_.size(), failed_.size() == 1 ? " task" : " tasks", " failed: ");
  for (size_t k = 0; k < failed_.size() && k < kMaxListed; ++k) {
    const int32_t f = failed_[k];
    absl::StrAppend(&message, k == 0 ? "" : ", ", "\"", tasks_[f].id_, "\" (",
                    Bounded(outcomes_[f].error.ToString()), ")");
  }
  if (failed_.size() > kMaxListed) {
    absl::StrAppend(&message, ", and ", failed_.size() - kMaxListed, " more");
  }

  // Skipped tasks grouped by cause, causes in the order they failed, tasks
  // in the order they were added.
  std::vector<int32_t> fail_rank(tasks_.size(), 0);
  for (size_t k = 0; k < failed_.size(); ++k) {
    fail_rank[failed_[k]] = static_cast<int32_t>(k);
  }
  // (rank of the cause in failed_, skipped task), sorted.
  std::vector<std::pair<int32_t, int32_t>> skipped;
  for (size_t i = 0; i < outcomes_.size(); ++i) {
    if (outcomes_[i].state == State::kSkipped) {
      skipped.emplace_back(fail_rank[outcomes_[i].skipped_because],
                           static_cast<int32_t>(i));
    }
  }
  if (skipped.empty()) return absl::UnknownError(message);

  const size_t listed = std::min(skipped.size(), kMaxListed);
  std::partial_sort(skipped.begin(), skipped.begin() + listed, skipped.end());
  absl::StrAppend(&message, "; ", skipped.size(), " skipped: ");
  for (size_t k = 0; k < listed; ++k) {
    const auto [rank, s] = skipped[k];
    absl::StrAppend(&message, k == 0 ? "" : ", ", "\"", tasks_[s].id_, "\"");
    if (k + 1 == listed || skipped[k + 1].first != rank) {
      const int32_t cause = failed_[rank];
      absl::StrAppend(&message, " (because \"", tasks_[cause].id_,
                      "\" failed)");
    }
  }
  if (skipped.size() > listed) {
    absl::StrAppend(&message, ", and ", skipped.size() - listed, " more");
  }
  return absl::UnknownError(message);
}

absl::StatusOr<TaskExecutor::State> TaskExecutor::state(
    absl::string_view id) const {
  ASSIGN_OR_RETURN(TaskResult task_result, result(id));
  return task_result.state;
}

absl::StatusOr<TaskExecutor::TaskResult> TaskExecutor::result(
    absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(id);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat("no task \"", id, "\""));
  }
  const size_t i = it->second;
  // Before a run started, outcomes_ is empty and every task is pending.
  if (i >= outcomes_.size()) return TaskResult{};
  const Outcome& outcome = outcomes_[i];
  TaskResult task_result{outcome.state, outcome.error, ""};
  if (outcome.skipped_because >= 0) {
    task_result.skipped_because = tasks_[outcome.skipped_because].id_;
  }
  return task_result;
}

}  // namespace vitte::task
