// The two output streams of a task process, shared by the worker (which
// reads them) and the coordinator (which keeps them).
#ifndef VITTE_COMMON_OUTPUT_STREAM_H_
#define VITTE_COMMON_OUTPUT_STREAM_H_

#include <cstdint>

namespace vitte::task {

// Values are the wire numbers (v1.OutputStream) and are stored in the
// coordinator's database: never renumber.
enum class OutputStream : int32_t {
  kStdout = 1,
  kStderr = 2,
};

inline const char* OutputStreamName(OutputStream s) {
  return s == OutputStream::kStdout ? "stdout" : "stderr";
}

}  // namespace vitte::task

#endif  // VITTE_COMMON_OUTPUT_STREAM_H_
