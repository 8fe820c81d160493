#include "common/graph_spec.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace vitte::task {
namespace {

absl::Status TaskError(const TaskSpec& task, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("task ", Quoted(task.id), " ", what));
}

absl::Status ValidateTask(TaskSpec& task, const GraphLimits& limits) {
  if (task.command.empty()) return TaskError(task, "has an empty command");
  if (task.command[0].empty()) {
    return TaskError(task, "has an empty program name (command[0])");
  }
  if (static_cast<int64_t>(task.command.size()) > limits.max_command_args) {
    return TaskError(task, absl::StrCat("has ", task.command.size(),
                                        " command arguments, more than the "
                                        "limit of ",
                                        limits.max_command_args));
  }
  int64_t bytes = task.cwd.size();
  for (const auto& arg : task.command) bytes += arg.size();
  for (const auto& [k, v] : task.env) {
    if (k.empty() || k.find('=') != std::string::npos) {
      return TaskError(task, absl::StrCat("has an invalid environment "
                                          "variable name ", Quoted(k)));
    }
    bytes += k.size() + v.size();
  }
  if (bytes > limits.max_command_bytes) {
    return TaskError(task, absl::StrCat("has ", bytes,
                                        " bytes of command, env and cwd, "
                                        "more than the limit of ",
                                        limits.max_command_bytes));
  }
  if (static_cast<int64_t>(task.deps.size()) > limits.max_deps_per_task) {
    return TaskError(task, absl::StrCat("has ", task.deps.size(),
                                        " dependencies, more than the limit "
                                        "of ",
                                        limits.max_deps_per_task));
  }
  if (task.max_attempts == 0) task.max_attempts = 1;
  if (task.max_attempts < 0 || task.max_attempts > limits.max_attempts) {
    return TaskError(task, absl::StrCat("has max_attempts ", task.max_attempts,
                                        ", outside 1..", limits.max_attempts));
  }
  if (task.timeout_s < 0 || task.timeout_s > limits.max_timeout_s) {
    return TaskError(task, absl::StrCat("has timeout_s ", task.timeout_s,
                                        ", outside 0..", limits.max_timeout_s));
  }
  return absl::OkStatus();
}

}  // namespace

std::string Quoted(absl::string_view text) {
  constexpr size_t kMax = 64;
  if (text.size() <= kMax) return absl::StrCat("\"", text, "\"");
  return absl::StrCat("\"", text.substr(0, kMax), "...\" (", text.size(),
                      " bytes)");
}

absl::Status ValidateTaskId(const std::string& id, int64_t max_bytes) {
  if (id.empty()) return absl::InvalidArgumentError("task with an empty id");
  if (static_cast<int64_t>(id.size()) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("task id ", Quoted(id), " is longer than the limit of ",
                     max_bytes, " bytes"));
  }
  for (unsigned char c : id) {
    if (c <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "task id \"", id, "\" contains whitespace or a control character"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Dag> ValidateGraphSpec(GraphSpec& spec,
                                      const GraphLimits& limits) {
  if (spec.tasks.empty()) {
    return absl::InvalidArgumentError("graph has no tasks");
  }
  if (static_cast<int64_t>(spec.tasks.size()) > limits.max_tasks) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph has ", spec.tasks.size(),
                     " tasks, more than the limit of ", limits.max_tasks));
  }
  if (static_cast<int64_t>(spec.name.size()) > limits.max_name_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph name is ", spec.name.size(),
                     " bytes long, more than the limit of ",
                     limits.max_name_bytes));
  }
  int64_t total_deps = 0;
  for (const TaskSpec& task : spec.tasks) total_deps += task.deps.size();
  if (total_deps > limits.max_total_deps) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph has ", total_deps,
                     " dependencies in all, more than the limit of ",
                     limits.max_total_deps));
  }
  for (size_t i = 0; i < spec.tasks.size(); ++i) {
    TaskSpec& task = spec.tasks[i];
    absl::Status id_status = ValidateTaskId(task.id, limits.max_id_bytes);
    if (!id_status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("task #", i + 1, ": ", id_status.message()));
    }
    RETURN_IF_ERROR(ValidateTask(task, limits));
  }
  return Dag::Build(
      spec.tasks.size(),
      [&](size_t i) -> const std::string& { return spec.tasks[i].id; },
      [&](size_t i) -> const std::vector<std::string>& {
        return spec.tasks[i].deps;
      });
}

}  // namespace vitte::task
