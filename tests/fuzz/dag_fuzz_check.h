// Shared by the DAG fuzzers: runs a parsed v1::GraphSpec through the path a
// submitted graph takes in the daemon (FromProto, then ValidateGraphSpec)
// and checks the result against what graph_spec.h and dag.h promise. A
// broken promise prints what was expected and aborts, which libFuzzer
// reports as a crash and saves the input.
#ifndef VITTE_TESTS_FUZZ_DAG_FUZZ_CHECK_H_
#define VITTE_TESTS_FUZZ_DAG_FUZZ_CHECK_H_

#include <string>

#include "common/graph_spec.h"
#include "vitte/task/v1/task.pb.h"

// Aborts unless `cond`. `detail` is a std::string expression naming the
// objects involved; it is only evaluated on failure, so checks stay cheap.
#define VITTE_FUZZ_CHECK(cond, detail)                     \
  do {                                                     \
    if (!(cond)) ::vitte::task::fuzz::Fail(#cond, detail); \
  } while (0)

namespace vitte::task::fuzz {

// Small limits, so that the fuzzer reaches every limit with inputs of a few
// KiB and spends its time exploring rather than allocating.
GraphLimits FuzzLimits();

// Runs `graph` through ParseSubmitRequest, FromProto and ValidateGraphSpec with
// FuzzLimits(), then checks:
// - ParseSubmitRequest refuses (INVALID_ARGUMENT) only graphs that break a
//   limit and that ValidateGraphSpec refuses too;
// - an accepted graph obeys every limit and rule, was normalised
//   (max_attempts 0 -> 1, nothing else changed), and its Dag holds exactly
//   the declared edges, deduplicated, with matching dependents and no cycle;
// - a refused graph got INVALID_ARGUMENT, and when no per-task rule or limit
//   was broken, the error is the first structural one that applies: a
//   duplicate id, else an unknown dependency, else a cycle whose reported
//   path ("a -> b -> a") exists, starts at its earliest task and closes.
// Returns whether the daemon would accept the graph; aborts on the first
// mismatch.
bool CheckGraph(const v1::GraphSpec& graph);

// Prints the failed check and `detail` to stderr, then aborts.
[[noreturn]] void Fail(const char* check, const std::string& detail);

// Compares two domain graphs field by field.
bool SameGraph(const GraphSpec& a, const GraphSpec& b);

}  // namespace vitte::task::fuzz

#endif  // VITTE_TESTS_FUZZ_DAG_FUZZ_CHECK_H_
