// libFuzzer target: the input bytes drive the construction of a
// v1::GraphSpec (FuzzedDataProvider) which then goes through the same
// ParseSubmitRequest, FromProto and ValidateGraphSpec checks as in the other two
// fuzzers. JSON and wire bytes rarely hit a limit exactly (timeout_s 3600 is
// two varint bytes the mutator has to guess); here every number is drawn
// near the limit it is checked against, and ids from a small pool, so
// duplicates, unknown dependencies, cycles and off-by-one limits come up
// within seconds.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "tests/fuzz/dag_fuzz_check.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::fuzz {
namespace {

// Most draws give a valid value, so that a graph often breaks one rule at
// a time; once the input is used up every draw takes its first, valid,
// branch (FuzzedDataProvider then returns the range's minimum).
bool Unusual(FuzzedDataProvider& in) {
  return in.ConsumeIntegralInRange(0, 7) == 7;
}

// A number for a field checked against 0..limit: within it usually, else
// just around its ends or at the type's extremes.
template <typename T>
T Around(FuzzedDataProvider& in, int64_t limit) {
  if (!Unusual(in)) {
    return static_cast<T>(in.ConsumeIntegralInRange<int64_t>(0, limit));
  }
  switch (in.ConsumeIntegralInRange(0, 5)) {
    case 0:
      return static_cast<T>(-1);
    case 1:
      return static_cast<T>(limit);
    case 2:
      return static_cast<T>(limit + 1);
    case 3:
      return std::numeric_limits<T>::min();
    case 4:
      return std::numeric_limits<T>::max();
    default:
      return in.ConsumeIntegral<T>();
  }
}

// A count in lo..small usually, else just around `limit`.
size_t Count(FuzzedDataProvider& in, size_t lo, size_t small, int64_t limit) {
  if (!Unusual(in)) return in.ConsumeIntegralInRange<size_t>(lo, small);
  return static_cast<size_t>(limit + in.ConsumeIntegralInRange<int64_t>(-1, 1));
}

// "t<k>": the id of task k when ids are unique.
std::string TaskId(size_t k) { return absl::StrCat("t", k); }

// An id that is bad, long, or arbitrary.
std::string OddId(FuzzedDataProvider& in, const GraphLimits& l) {
  switch (in.ConsumeIntegralInRange(0, 6)) {
    case 0:
      return "";
    case 1:
      return "a b";
    case 2:
      return std::string(1, in.ConsumeIntegralInRange<char>(0, 0x20));
    case 3:
      return "\x7f";
    case 4:
      return std::string(l.max_id_bytes, 'i');
    case 5:
      return std::string(l.max_id_bytes + 1, 'i');
    default:
      return in.ConsumeRandomLengthString(l.max_id_bytes + 2);
  }
}

v1::GraphSpec BuildGraph(FuzzedDataProvider& in) {
  const GraphLimits l = FuzzLimits();
  v1::GraphSpec graph;
  graph.set_name(std::string(Count(in, 0, 8, l.max_name_bytes), 'n'));
  const size_t n = Count(in, 1, 24, l.max_tasks);
  // Ids are "t0", "t1", ... in order, or drawn from a pool smaller than the
  // graph so that they repeat.
  const size_t pool =
      Unusual(in) ? in.ConsumeIntegralInRange<size_t>(1, 24) : 0;
  // Whether to bring the dependencies of the whole graph to just around
  // their limit at the end; drawn now, while the input lasts.
  const bool pad_deps = Unusual(in);
  const int64_t total_deps =
      l.max_total_deps + in.ConsumeIntegralInRange<int64_t>(-1, 1);
  for (size_t i = 0; i < n; ++i) {
    v1::TaskSpec& task = *graph.add_tasks();
    if (Unusual(in)) {
      task.set_id(OddId(in, l));
    } else {
      task.set_id(
          TaskId(pool == 0 ? i : in.ConsumeIntegralInRange<size_t>(0, pool)));
    }
    int64_t bytes = 0;
    const size_t args = Count(in, 1, 3, l.max_command_args);
    for (size_t a = 0; a < args; ++a) {
      task.add_command(a == 0 ? (Unusual(in) ? "" : "x")
                              : in.ConsumeRandomLengthString(8));
      bytes += task.command(a).size();
    }
    for (size_t e = in.ConsumeIntegralInRange<size_t>(0, 2); e > 0; --e) {
      std::string key = Unusual(in) ? in.ConsumeRandomLengthString(4)
                                    : "K" + in.ConsumeRandomLengthString(3);
      std::string value = in.ConsumeRandomLengthString(8);
      bytes += key.size() + value.size();
      (*task.mutable_env())[key] = value;
    }
    // A cwd that brings argv + env + cwd to just around the byte limit.
    if (Unusual(in)) {
      const int64_t pad = l.max_command_bytes - bytes +
                          in.ConsumeIntegralInRange<int64_t>(-1, 1);
      if (pad > 0) task.set_cwd(std::string(pad, 'c'));
    }
    // Dependencies on earlier tasks usually (no cycle); sometimes on any
    // task, a task past the end, or an odd id.
    const size_t deps = Count(in, 0, 3, l.max_deps_per_task);
    for (size_t d = 0; d < deps; ++d) {
      if (!Unusual(in)) {
        if (i > 0) {
          task.add_deps(TaskId(in.ConsumeIntegralInRange<size_t>(0, i - 1)));
        }
      } else if (in.ConsumeBool()) {
        task.add_deps(TaskId(in.ConsumeIntegralInRange<size_t>(0, n)));
      } else {
        task.add_deps(OddId(in, l));
      }
    }
    task.set_priority(in.ConsumeIntegral<int32_t>());
    task.set_max_attempts(Around<int32_t>(in, l.max_attempts));
    task.set_timeout_s(Around<int64_t>(in, l.max_timeout_s));
    if (Unusual(in)) {
      (*task.mutable_labels())["os"] = in.ConsumeRandomLengthString(4);
    }
  }
  // Pad with repeats of the first task (no new cycle, unless it shares an
  // id with a later task).
  if (pad_deps) {
    int64_t missing = total_deps;
    for (const v1::TaskSpec& task : graph.tasks()) missing -= task.deps_size();
    for (int i = graph.tasks_size() - 1; i >= 1 && missing > 0; --i) {
      v1::TaskSpec& task = *graph.mutable_tasks(i);
      for (; missing > 0 && task.deps_size() < l.max_deps_per_task; --missing) {
        task.add_deps(graph.tasks(0).id());
      }
    }
  }
  return graph;
}

}  // namespace
}  // namespace vitte::task::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  vitte::task::fuzz::CheckGraph(vitte::task::fuzz::BuildGraph(in));
  return 0;
}
