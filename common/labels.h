// Label matching between tasks and workers, shared by the coordinator's
// ready queue (which picks tasks for a worker) and the worker (which refuses
// an assignment it does not serve). Plain C++: no protobuf.
#ifndef VITTE_COMMON_LABELS_H_
#define VITTE_COMMON_LABELS_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vitte::task {

using Labels = std::map<std::string, std::string>;

// True when `worker` carries every label of `required` with the same value.
bool LabelsMatch(const Labels& required, const Labels& worker);

// True when a worker whose labels are `worker` and whose serve-labels are
// `serve` may run a task requiring `required`: it carries every required
// label, and the task requires every serve-label with the same value. With
// no serve-labels this is LabelsMatch. E.g. serve = {pool: release}: a task
// requiring {pool: release, os: linux} may run there (if the worker also has
// os=linux), one requiring {} or {os: linux} may not.
bool WorkerTakes(const Labels& required, const Labels& worker,
                 const Labels& serve);

// Adds `serve` to `labels` (a serve-label is also a label of the worker).
// INVALID_ARGUMENT naming the key when `labels` has one of its keys with
// another value; `labels` is then unchanged.
absl::Status MergeServeLabels(const Labels& serve, Labels& labels);

// "key=value", sorted by key and joined by `separator`; "" for none.
std::string FormatLabels(const Labels& labels, absl::string_view separator);

}  // namespace vitte::task

#endif  // VITTE_COMMON_LABELS_H_
