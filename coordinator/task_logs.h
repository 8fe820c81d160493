// Reading an attempt's output back: the head kept from the chunks the
// worker streamed, the tail it sent with its result, and a marker line for
// every run of bytes kept by neither. Plain functions over what the store
// holds; no gRPC, no SQLite.
#ifndef VITTE_COORDINATOR_TASK_LOGS_H_
#define VITTE_COORDINATOR_TASK_LOGS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vitte::task {

// Bytes of one stream starting at `offset`.
struct StreamPiece {
  uint64_t offset = 0;
  std::string data;
};

// What the coordinator knows of one output stream of one attempt.
struct StreamOutput {
  // Chunks kept, sorted by offset. They may overlap (a resend) and leave
  // gaps (chunks lost with a crashed daemon or a broken stream).
  std::vector<StreamPiece> head;
  // The attempt has ended: no chunk will be added.
  bool ended = false;
  // Its worker reported a result, so total_bytes and tail are known.
  bool has_result = false;
  // Bytes written in all. 0 with a non-empty tail means unknown (a worker
  // that does not count): it is then worked out from the tail.
  uint64_t total_bytes = 0;
  // The worker's tail: the stream's last bytes, after a
  // "[... N bytes truncated ...]\n" line when the first N were dropped.
  std::string tail;
  // The coordinator's head limit (--max-log-bytes): an attempt that ended
  // without a result and filled its head had more output, not kept.
  uint64_t head_limit = 0;
};

// The stream from a cursor on, as a reader sees it.
struct LogSlice {
  std::string text;
  // Cursor for the next read: the stream offset up to which `text` got.
  uint64_t next = 0;
  // `text` holds a marker for bytes that were not kept.
  bool truncated = false;
  // The attempt ended and `text` reaches the end of the stream.
  bool complete = false;
  // `text` was cut at max_bytes; more is readable now.
  bool more = false;
};

// "[... N bytes not kept ...]\n".
std::string NotKeptMarker(uint64_t bytes);

// Where the worker's tail starts in its stream, and its bytes without the
// worker's own truncation line.
struct TailRange {
  uint64_t start = 0;
  std::string bytes;
  uint64_t total = 0;  // start + bytes.size()
};
// Reads a worker's tail given the stream's total size (0 = unknown).
TailRange ParseTail(absl::string_view tail, uint64_t total_bytes);

// The stream from offset `from` on: head chunks, then (with a result) the
// tail, each overlap trimmed, each gap replaced by NotKeptMarker (after a
// newline when the bytes before it do not end one, so that the marker has
// a line of its own; the chunk ending at `from`, if given, tells). Stops
// once `text` holds about max_bytes (at least one byte is always taken).
//
// Example: head limit 4 KiB, the process wrote 200 KiB, tail 64 KiB: from 0
// the text is bytes [0, 4 KiB), "[... 135168 bytes not kept ...]\n", bytes
// [136 KiB, 200 KiB); next = 200 KiB, complete.
LogSlice ReadStream(const StreamOutput& stream, uint64_t from,
                    size_t max_bytes);

// The cursor of GetLogs: the next offset of each stream, "OUT:ERR" in
// decimal. INVALID_ARGUMENT quotes a malformed cursor; "" is 0:0.
std::string FormatLogCursor(uint64_t out, uint64_t err);
absl::StatusOr<std::pair<uint64_t, uint64_t>> ParseLogCursor(
    absl::string_view cursor);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_TASK_LOGS_H_
