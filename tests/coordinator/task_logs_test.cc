#include "coordinator/task_logs.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/test_util.h"

namespace vitte::task {
namespace {

using ::testing::HasSubstr;

// "0123456789" repeated: every byte tells its offset modulo 10.
std::string Bytes(uint64_t from, uint64_t to) {
  std::string s;
  for (uint64_t i = from; i < to; ++i) s += static_cast<char>('0' + i % 10);
  return s;
}

StreamOutput Running(std::vector<StreamPiece> head) {
  StreamOutput s;
  s.head = std::move(head);
  s.head_limit = 1000;
  return s;
}

// The attempt reported: the process wrote `total` bytes, of which the
// worker kept the last `tail_bytes` (with its truncation line if it
// dropped some).
StreamOutput Reported(std::vector<StreamPiece> head, uint64_t total,
                      uint64_t tail_bytes) {
  StreamOutput s = Running(std::move(head));
  s.ended = true;
  s.has_result = true;
  s.total_bytes = total;
  uint64_t start = total > tail_bytes ? total - tail_bytes : 0;
  s.tail = Bytes(start, total);
  if (start > 0) {
    s.tail = absl::StrCat("[... ", start, " bytes truncated ...]\n", s.tail);
  }
  return s;
}

TEST(ReadStreamTest, HeadOnlyWhileRunning) {
  StreamOutput s = Running({{0, Bytes(0, 5)}, {5, Bytes(5, 12)}});
  LogSlice slice = ReadStream(s, 0, 1 << 20);
  EXPECT_EQ(slice.text, Bytes(0, 12));
  EXPECT_EQ(slice.next, 12u);
  EXPECT_FALSE(slice.truncated);
  EXPECT_FALSE(slice.complete);
  EXPECT_FALSE(slice.more);
  // From the cursor on, only what came after it.
  s.head.push_back({12, Bytes(12, 20)});
  slice = ReadStream(s, 12, 1 << 20);
  EXPECT_EQ(slice.text, Bytes(12, 20));
  EXPECT_EQ(slice.next, 20u);
}

TEST(ReadStreamTest, WholeOutputKeptNeedsNoMarker) {
  // 30 bytes: all in the head and all in the tail.
  StreamOutput s = Reported({{0, Bytes(0, 30)}}, 30, 64);
  LogSlice slice = ReadStream(s, 0, 1 << 20);
  EXPECT_EQ(slice.text, Bytes(0, 30));
  EXPECT_FALSE(slice.truncated);
  EXPECT_TRUE(slice.complete);
  EXPECT_EQ(slice.next, 30u);
}

TEST(ReadStreamTest, HeadThenMarkerThenTail) {
  // 1000-byte output, 100-byte head, 64-byte tail: bytes [100, 936) lost.
  StreamOutput s = Reported({{0, Bytes(0, 60)}, {60, Bytes(60, 100)}}, 1000, 64);
  LogSlice slice = ReadStream(s, 0, 1 << 20);
  EXPECT_EQ(slice.text, absl::StrCat(Bytes(0, 100), "\n",
                                     "[... 836 bytes not kept ...]\n",
                                     Bytes(936, 1000)));
  EXPECT_TRUE(slice.truncated);
  EXPECT_TRUE(slice.complete);
  EXPECT_EQ(slice.next, 1000u);

  // A reader that followed the head sees the marker and tail next, the
  // marker on a line of its own (the head did not end one).
  LogSlice rest = ReadStream(s, 100, 1 << 20);
  EXPECT_EQ(rest.text, absl::StrCat("\n[... 836 bytes not kept ...]\n",
                                    Bytes(936, 1000)));
  // And one that read everything gets nothing more.
  LogSlice none = ReadStream(s, 1000, 1 << 20);
  EXPECT_EQ(none.text, "");
  EXPECT_TRUE(none.complete);
}

TEST(ReadStreamTest, MarkerAfterACompleteLineAddsNoNewline) {
  StreamOutput s = Reported({{0, "one\n"}}, 100, 10);
  s.tail = "[... 90 bytes truncated ...]\n123456789\n";
  LogSlice slice = ReadStream(s, 0, 1 << 20);
  EXPECT_EQ(slice.text, "one\n[... 86 bytes not kept ...]\n123456789\n");
}

TEST(ReadStreamTest, OverlapOfHeadAndTailIsTrimmed) {
  // 120 bytes: head [0, 100), tail [56, 120): [56, 100) is in both.
  StreamOutput s = Reported({{0, Bytes(0, 100)}}, 120, 64);
  LogSlice slice = ReadStream(s, 0, 1 << 20);
  EXPECT_EQ(slice.text, Bytes(0, 120));
  EXPECT_FALSE(slice.truncated);
  EXPECT_TRUE(slice.complete);
  // From inside the overlap, the rest once.
  EXPECT_EQ(ReadStream(s, 80, 1 << 20).text, Bytes(80, 120));
}

TEST(ReadStreamTest, GapInTheHeadIsMarked) {
  // Chunk [10, 20) was lost (a daemon crash before its commit).
  StreamOutput s = Running({{0, Bytes(0, 9) + "\n"}, {20, Bytes(20, 30)}});
  LogSlice slice = ReadStream(s, 0, 1 << 20);
  EXPECT_EQ(slice.text, absl::StrCat(Bytes(0, 9), "\n",
                                     "[... 10 bytes not kept ...]\n",
                                     Bytes(20, 30)));
  EXPECT_TRUE(slice.truncated);
  EXPECT_EQ(slice.next, 30u);
}

TEST(ReadStreamTest, GapAtTheStartIsMarked) {
  StreamOutput s = Running({{50, Bytes(50, 60)}});
  LogSlice slice = ReadStream(s, 0, 1 << 20);
  EXPECT_EQ(slice.text,
            absl::StrCat("[... 50 bytes not kept ...]\n", Bytes(50, 60)));
}

TEST(ReadStreamTest, OverlappingChunksAreReadOnce) {
  StreamOutput s = Running({{0, Bytes(0, 10)}, {5, Bytes(5, 15)}});
  EXPECT_EQ(ReadStream(s, 0, 1 << 20).text, Bytes(0, 15));
}

TEST(ReadStreamTest, EndedWithoutResultAfterAFullHeadSaysSo) {
  // Lost with its worker after filling the 1000-byte head.
  StreamOutput s = Running({{0, Bytes(0, 999) + "\n"}});
  s.ended = true;
  LogSlice slice = ReadStream(s, 0, 1 << 20);
  EXPECT_THAT(slice.text,
              HasSubstr("\n[... output beyond the first 1000 bytes not kept"));
  EXPECT_TRUE(slice.truncated);
  EXPECT_TRUE(slice.complete);
  // Read once: the cursor is past the marker.
  LogSlice again = ReadStream(s, slice.next, 1 << 20);
  EXPECT_EQ(again.text, "");
  EXPECT_TRUE(again.complete);
}

TEST(ReadStreamTest, EndedWithoutResultUnderTheLimitIsComplete) {
  StreamOutput s = Running({{0, "partial"}});
  s.ended = true;
  LogSlice slice = ReadStream(s, 0, 1 << 20);
  EXPECT_EQ(slice.text, "partial");
  EXPECT_FALSE(slice.truncated);
  EXPECT_TRUE(slice.complete);
}

TEST(ReadStreamTest, SliceStopsAtMaxBytesAndResumes) {
  StreamOutput s = Reported({{0, Bytes(0, 100)}}, 100, 64);
  LogSlice first = ReadStream(s, 0, 30);
  EXPECT_EQ(first.text, Bytes(0, 30));
  EXPECT_TRUE(first.more);
  EXPECT_FALSE(first.complete);
  std::string all = first.text;
  uint64_t next = first.next;
  for (int guard = 0; guard < 10; ++guard) {
    LogSlice slice = ReadStream(s, next, 30);
    all += slice.text;
    next = slice.next;
    if (slice.complete) break;
  }
  EXPECT_EQ(all, Bytes(0, 100));
}

TEST(ParseTailTest, ReadsTheWorkersTruncationLine) {
  TailRange t = ParseTail("[... 900 bytes truncated ...]\nabc", 903);
  EXPECT_EQ(t.start, 900u);
  EXPECT_EQ(t.bytes, "abc");
  EXPECT_EQ(t.total, 903u);
  // Without a count (an older worker), the line says it all.
  t = ParseTail("[... 900 bytes truncated ...]\nabc", 0);
  EXPECT_EQ(t.start, 900u);
  EXPECT_EQ(t.total, 903u);
}

TEST(ParseTailTest, OutputThatLooksLikeTheLineIsOutput) {
  // The process printed the line itself, and that was all it printed.
  std::string printed = "[... 5 bytes truncated ...]\nabc";
  TailRange t = ParseTail(printed, printed.size());
  EXPECT_EQ(t.start, 0u);
  EXPECT_EQ(t.bytes, printed);
}

TEST(LogCursorTest, RoundTripsAndRefusesGarbage) {
  std::string c = FormatLogCursor(12, 345);
  ASSERT_OK_AND_ASSIGN(auto parsed, ParseLogCursor(c));
  EXPECT_EQ(parsed.first, 12u);
  EXPECT_EQ(parsed.second, 345u);
  ASSERT_OK_AND_ASSIGN(auto empty, ParseLogCursor(""));
  EXPECT_EQ(empty.first, 0u);
  EXPECT_CODE(ParseLogCursor("12"), absl::StatusCode::kInvalidArgument);
  EXPECT_CODE(ParseLogCursor("a:b"), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vitte::task
