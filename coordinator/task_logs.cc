#include "coordinator/task_logs.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vitte::task {
namespace {

// The line ProcessRunner puts before a tail that lost its first N bytes.
constexpr absl::string_view kTailPrefix = "[... ";
constexpr absl::string_view kTailSuffix = " bytes truncated ...]\n";

}  // namespace

std::string NotKeptMarker(uint64_t bytes) {
  return absl::StrCat("[... ", bytes, " bytes not kept ...]\n");
}

TailRange ParseTail(absl::string_view tail, uint64_t total_bytes) {
  // A tail as long as the whole stream is the whole stream, even if the
  // process itself printed something that looks like the prefix.
  if (total_bytes > 0 && tail.size() == total_bytes) {
    return {0, std::string(tail), total_bytes};
  }
  if (absl::StartsWith(tail, kTailPrefix)) {
    size_t end = tail.find(kTailSuffix);
    uint64_t dropped = 0;
    if (end != absl::string_view::npos &&
        absl::SimpleAtoi(tail.substr(kTailPrefix.size(),
                                     end - kTailPrefix.size()),
                         &dropped)) {
      absl::string_view rest = tail.substr(end + kTailSuffix.size());
      if (total_bytes == 0 || dropped + rest.size() == total_bytes) {
        return {dropped, std::string(rest), dropped + rest.size()};
      }
    }
  }
  if (total_bytes == 0) return {0, std::string(tail), tail.size()};
  // A tail that does not match the count: keep what fits at the end.
  absl::string_view raw =
      tail.size() > total_bytes ? tail.substr(tail.size() - total_bytes) : tail;
  return {total_bytes - raw.size(), std::string(raw), total_bytes};
}

LogSlice ReadStream(const StreamOutput& stream, uint64_t from,
                    size_t max_bytes) {
  LogSlice out;
  uint64_t pos = from;
  max_bytes = std::max<size_t>(max_bytes, 1);
  // A marker starts on a line of its own: after a partial line, a newline
  // goes first. The byte before `from` is in a chunk that ends at `from`,
  // when there is one.
  bool at_line_start = true;
  for (const StreamPiece& piece : stream.head) {
    if (from > piece.offset && from <= piece.offset + piece.data.size()) {
      at_line_start = piece.data[from - piece.offset - 1] == '\n';
      break;
    }
  }
  // Appends bytes [offset, offset + data.size()) that lie beyond `pos`,
  // after a marker for the gap before them if any. False once the slice is
  // full (out.more set).
  auto add = [&](uint64_t offset, absl::string_view data) {
    const uint64_t end = offset + data.size();
    if (end <= pos) return true;
    if (out.text.size() >= max_bytes) {
      out.more = true;
      return false;
    }
    if (offset > pos) {
      if (!(out.text.empty() ? at_line_start : out.text.back() == '\n')) {
        out.text += '\n';
      }
      out.text += NotKeptMarker(offset - pos);
      out.truncated = true;
      pos = offset;
    }
    const size_t skip = pos - offset;
    const size_t room =
        std::max<size_t>(max_bytes - std::min(max_bytes, out.text.size()), 1);
    const size_t take = std::min(data.size() - skip, room);
    out.text.append(data.data() + skip, take);
    pos += take;
    if (pos < end) {
      out.more = true;
      return false;
    }
    return true;
  };

  TailRange tail;
  uint64_t head_end = std::numeric_limits<uint64_t>::max();
  if (stream.has_result) {
    tail = ParseTail(stream.tail, stream.total_bytes);
    // Where head and tail overlap, the tail has the bytes.
    head_end = tail.start;
  }
  uint64_t kept_end = 0;
  for (const StreamPiece& piece : stream.head) {
    if (piece.offset >= head_end) break;
    absl::string_view data = piece.data;
    if (piece.offset + data.size() > head_end) {
      data = data.substr(0, head_end - piece.offset);
    }
    kept_end = std::max<uint64_t>(kept_end, piece.offset + data.size());
    if (!add(piece.offset, data)) {
      out.next = pos;
      return out;
    }
  }
  if (stream.has_result) {
    if (!add(tail.start, tail.bytes)) {
      out.next = pos;
      return out;
    }
    out.complete = true;
  } else if (stream.ended) {
    // No result (lost, cancelled): the total is unknown. A full head means
    // the process wrote more than was kept.
    if (stream.head_limit > 0 && kept_end >= stream.head_limit &&
        pos <= kept_end) {
      if (!(out.text.empty() ? at_line_start : out.text.back() == '\n')) {
        out.text += '\n';
      }
      out.text += absl::StrCat("[... output beyond the first ", kept_end,
                               " bytes not kept ...]\n");
      out.truncated = true;
      pos = kept_end + 1;  // past the marker, so that it is read once
    }
    out.complete = true;
  }
  out.next = pos;
  return out;
}

std::string FormatLogCursor(uint64_t out, uint64_t err) {
  return absl::StrCat(out, ":", err);
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> ParseLogCursor(
    absl::string_view cursor) {
  if (cursor.empty()) return std::pair<uint64_t, uint64_t>{0, 0};
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(cursor, absl::MaxSplits(':', 1));
  std::pair<uint64_t, uint64_t> out;
  if (!absl::SimpleAtoi(parts.first, &out.first) ||
      !absl::SimpleAtoi(parts.second, &out.second)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed log cursor \"", cursor,
        "\": pass the next_cursor of an earlier GetLogs response"));
  }
  return out;
}

}  // namespace vitte::task
