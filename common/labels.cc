#include "common/labels.h"

#include "absl/strings/str_cat.h"

namespace vitte::task {

bool LabelsMatch(const Labels& required, const Labels& worker) {
  for (const auto& [key, value] : required) {
    auto it = worker.find(key);
    if (it == worker.end() || it->second != value) return false;
  }
  return true;
}

bool WorkerTakes(const Labels& required, const Labels& worker,
                 const Labels& serve) {
  // The serve check is the converse inclusion: the task's requirement must
  // cover the worker's restriction.
  return LabelsMatch(required, worker) && LabelsMatch(serve, required);
}

absl::Status MergeServeLabels(const Labels& serve, Labels& labels) {
  for (const auto& [key, value] : serve) {
    auto it = labels.find(key);
    if (it != labels.end() && it->second != value) {
      return absl::InvalidArgumentError(
          absl::StrCat("serve-label ", key, "=", value, " contradicts label ",
                       key, "=", it->second));
    }
  }
  labels.insert(serve.begin(), serve.end());
  return absl::OkStatus();
}

std::string FormatLabels(const Labels& labels, absl::string_view separator) {
  std::string out;
  for (const auto& [key, value] : labels) {
    if (!out.empty()) absl::StrAppend(&out, separator);
    absl::StrAppend(&out, key, "=", value);
  }
  return out;
}

}  // namespace vitte::task
