// Task output in the coordinator core: chunks streamed by workers (fenced
// like results, bounded by max_log_bytes, committed with the batch) and
// GetLogs reading them back, also after a restart.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_fixture.h"

namespace vitte::task::testing_util {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

class CoordinatorLogsTest : public CoordinatorTest {
 protected:
  CoordinatorLogsTest() { options_.max_log_bytes = 16; }

  static OutputChunk Chunk(const Assignment& a, uint64_t offset,
                           std::string data,
                           OutputStream stream = OutputStream::kStdout) {
    return {a.attempt_id, stream, offset, std::move(data)};
  }

  absl::StatusOr<LogsView> Logs(GraphId graph, const std::string& task,
                                int32_t attempt = 0,
                                const std::string& cursor = "") {
    LogsQuery q;
    q.graph_id = graph;
    q.task_id = task;
    q.attempt = attempt;
    q.cursor = cursor;
    return coord_->GetLogs(q);
  }

  // Bytes of stdout the store holds for the attempt.
  size_t StoredBytes(GraphId graph, int32_t number) {
    OutputQuery q;
    q.graph_id = graph;
    q.task_index = 0;
    q.number = number;
    absl::StatusOr<AttemptOutput> out = store_->ReadAttemptOutput(q);
    EXPECT_TRUE(out.ok()) << out.status();
    size_t bytes = 0;
    if (out.ok()) {
      for (const OutputChunk& c : out->chunks[0]) bytes += c.data.size();
    }
    return bytes;
  }
};

TEST_F(CoordinatorLogsTest, OutputOfARunningAttemptIsReadableWithACursor) {
  GraphId g = Submit(MakeGraph("g", {MakeTask("a")}));
  Worker w = Connect("w1");
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(coord_->ReportOutput(w.session, {Chunk(got[0], 0, "one\n"),
                                             Chunk(got[0], 0, "err\n",
                                                   OutputStream::kStderr)}),
            0);
  ASSERT_OK_AND_ASSIGN(LogsView v, Logs(g, "a"));
  EXPECT_EQ(v.attempt.number, 1);
  EXPECT_EQ(v.attempt.state, AttemptState::kRunning);
  EXPECT_EQ(v.out.text, "one\n");
  EXPECT_EQ(v.err.text, "err\n");
  EXPECT_FALSE(v.finished);

  // A reader that follows gets only what came since its cursor.
  EXPECT_EQ(coord_->ReportOutput(w.session, {Chunk(got[0], 4, "two\n")}), 0);
  ASSERT_OK_AND_ASSIGN(LogsView next, Logs(g, "a", 1, v.next_cursor));
  EXPECT_EQ(next.out.text, "two\n");
  EXPECT_EQ(next.err.text, "");

  // The last output and the result in one message (output first, as the
  // worker service applies them).
  EXPECT_EQ(coord_->ReportOutput(w.session, {Chunk(got[0], 8, "end\n")}), 0);
  AttemptOutcome done = Succeeded(got[0], "one\ntwo\nend\n");
  done.stdout_bytes = 12;
  done.stderr_tail = "err\n";
  done.stderr_bytes = 4;
  EXPECT_EQ(coord_->Report(w.session, {done}), 0);
  ASSERT_OK_AND_ASSIGN(LogsView last, Logs(g, "a", 0, next.next_cursor));
  EXPECT_EQ(last.out.text, "end\n");
  EXPECT_EQ(last.err.text, "");
  EXPECT_TRUE(last.finished);
  EXPECT_EQ(last.attempt.state, AttemptState::kSucceeded);
  EXPECT_EQ(last.attempt.stdout_bytes, 12u);
}

TEST_F(CoordinatorLogsTest, ChunksOfAFencedAttemptAreDropped) {
  GraphId g = Submit(MakeGraph("g", {MakeTask("a")}));
  Worker w1 = Connect("w1");
  std::vector<Assignment> first = w1.conn->Take();
  ASSERT_THAT(first, SizeIs(1));
  Worker w2 = Connect("w2");
  EXPECT_EQ(coord_->ReportOutput(w1.session, {Chunk(first[0], 0, "first\n")}),
            0);
  // Another session's chunk for w1's attempt.
  EXPECT_EQ(coord_->ReportOutput(w2.session, {Chunk(first[0], 6, "forged\n")}),
            1);

  // w1 misses its lease: its attempt is lost and the task runs on w2.
  AdvanceAndTick(options_.lease_timeout + absl::Seconds(1), {&w2});
  std::vector<Assignment> second = w2.conn->Take();
  ASSERT_THAT(second, SizeIs(1));
  // Late output of the lost attempt, and w1 writing into w2's attempt.
  EXPECT_EQ(coord_->ReportOutput(w1.session, {Chunk(first[0], 6, "late\n")}),
            1);
  EXPECT_EQ(coord_->ReportOutput(w1.session, {Chunk(second[0], 0, "stale\n")}),
            1);

  ASSERT_OK_AND_ASSIGN(LogsView lost, Logs(g, "a", 1));
  EXPECT_EQ(lost.attempt.state, AttemptState::kLost);
  EXPECT_EQ(lost.out.text, "first\n");
  EXPECT_TRUE(lost.finished);
  EXPECT_EQ(StoredBytes(g, 1), 6u);
  ASSERT_OK_AND_ASSIGN(LogsView current, Logs(g, "a"));
  EXPECT_EQ(current.attempt.number, 2);
  EXPECT_EQ(current.out.text, "");
  EXPECT_EQ(StoredBytes(g, 2), 0u);
}

TEST_F(CoordinatorLogsTest, ChunksBeyondTheLimitAreNotStored) {
  GraphId g = Submit(MakeGraph("g", {MakeTask("a")}));
  Worker w = Connect("w1");
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(got, SizeIs(1));
  // The limit is 16: the second chunk is cut at it, the third dropped.
  EXPECT_EQ(coord_->ReportOutput(w.session, {Chunk(got[0], 0, "0123456789"),
                                             Chunk(got[0], 10, "ABCDEFGHIJ"),
                                             Chunk(got[0], 20, "xyz")}),
            0);
  EXPECT_EQ(StoredBytes(g, 1), 16u);
  ASSERT_OK_AND_ASSIGN(LogsView running, Logs(g, "a"));
  EXPECT_EQ(running.out.text, "0123456789ABCDEF");

  // 100 bytes in all; the worker kept the last 10.
  AttemptOutcome done = Succeeded(
      got[0], "[... 90 bytes truncated ...]\nlast line\n");
  done.stdout_bytes = 100;
  EXPECT_EQ(coord_->Report(w.session, {done}), 0);
  ASSERT_OK_AND_ASSIGN(LogsView v, Logs(g, "a"));
  EXPECT_EQ(v.out.text,
            "0123456789ABCDEF\n[... 74 bytes not kept ...]\nlast line\n");
  EXPECT_TRUE(v.out.truncated);
  EXPECT_TRUE(v.finished);
}

TEST_F(CoordinatorLogsTest, LogsSurviveARestart) {
  GraphId g = Submit(MakeGraph("g", {MakeTask("a")}));
  Worker w = Connect("w1");
  std::vector<Assignment> got = w.conn->Take();
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(coord_->ReportOutput(w.session, {Chunk(got[0], 0, "before\n")}), 0);

  Restart();
  ASSERT_OK_AND_ASSIGN(LogsView v, Logs(g, "a"));
  EXPECT_EQ(v.out.text, "before\n");
  EXPECT_EQ(v.attempt.state, AttemptState::kRunning);

  // The worker comes back with its attempt and goes on.
  Worker back = Reconnect("w1", 1, {got[0].attempt_id});
  EXPECT_EQ(coord_->ReportOutput(back.session, {Chunk(got[0], 7, "after\n")}),
            0);
  AttemptOutcome done = Succeeded(got[0], "before\nafter\n");
  done.stdout_bytes = 13;
  EXPECT_EQ(coord_->Report(back.session, {done}), 0);

  Restart();
  ASSERT_OK_AND_ASSIGN(LogsView after, Logs(g, "a"));
  EXPECT_EQ(after.out.text, "before\nafter\n");
  EXPECT_FALSE(after.out.truncated);
  EXPECT_TRUE(after.finished);
}

TEST_F(CoordinatorLogsTest, UnknownGraphTaskOrAttemptIsNamed) {
  GraphId g = Submit(MakeGraph("g", {MakeTask("a"), MakeTask("b", {"a"})}));
  absl::StatusOr<LogsView> r = Logs(g + 100, "a");
  EXPECT_CODE(r, absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr(absl::StrCat("unknown graph \"", g + 100, "\"")));
  r = Logs(g, "nope");
  EXPECT_CODE(r, absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("\"nope\""));
  // "b" waits for "a": no attempt yet.
  r = Logs(g, "b");
  EXPECT_CODE(r, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("\"b\""));
  EXPECT_CODE(Logs(g, "a", 0, "garbage"), absl::StatusCode::kInvalidArgument);

  Worker w = Connect("w1");
  RunAll(w);  // the graph finishes and leaves memory
  r = Logs(g, "a", 3);
  EXPECT_CODE(r, absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no attempt 3"));
  // A finished graph's unknown task is answered from the store.
  r = Logs(g, "nope");
  EXPECT_CODE(r, absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("\"nope\""));
}

}  // namespace
}  // namespace vitte::task::testing_util
