// Every decision on a task is one logfmt line naming graph, task, attempt
// and worker.
#include "coordinator/decision_log.h"

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/coordinator/coordinator_fixture.h"

namespace vitte::task {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using testing_util::CoordinatorTest;
using testing_util::Failed;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::Succeeded;
using testing_util::Worker;

TEST(DecisionLogTest, FormatsLogfmtAndQuotesWhatNeedsIt) {
  TaskDecision d{"lost", 12, "compile a", 345, "build-12",
                 LogfmtPair("reason", "lease \"expired\"")};
  EXPECT_EQ(FormatDecision(d),
            "decision=lost graph=12 task=\"compile a\" attempt=345 "
            "worker=build-12 reason=\"lease \\\"expired\\\"\"");
  EXPECT_EQ(FormatDecision({"fenced", 0, "", 7}), "decision=fenced attempt=7");
  EXPECT_EQ(LogfmtPair("k", ""), "k=\"\"");
  EXPECT_EQ(LogfmtPair("k", "a=b"), "k=\"a=b\"");
}

// Captures the daemon's log lines for the test's duration.
class DecisionLogCoordinatorTest : public CoordinatorTest {
 protected:
  void SetUp() override {
    CoordinatorTest::SetUp();
    log_ = std::make_unique<testing_util::ScopedLogCapture>(
        spdlog::level::debug);
  }
  void TearDown() override {
    log_.reset();
    CoordinatorTest::TearDown();
  }
  std::vector<std::string> Decisions() {
    std::vector<std::string> out;
    const std::string log = log_->str();
    for (absl::string_view line : absl::StrSplit(log, '\n')) {
      if (absl::StartsWith(line, "decision=")) out.emplace_back(line);
    }
    return out;
  }

  std::unique_ptr<testing_util::ScopedLogCapture> log_;
};

TEST_F(DecisionLogCoordinatorTest, EachDecisionIsOneLineWithItsIds) {
  Worker w = Connect("w1", 1);
  TaskSpec a = MakeTask("a");
  a.max_attempts = 2;
  GraphId id = Submit(MakeGraph("g", {a, MakeTask("b", {"a"}), MakeTask("c")}));
  std::vector<Assignment> got = w.conn->Take();  // a
  const AttemptId first = got[0].attempt_id;
  coord_->Report(w.session, {Failed(got[0], 3)});  // retried
  // A late, second result of the same attempt is refused.
  coord_->Report(w.session, {Failed(got[0], 3)});
  got = w.conn->Take();  // a again
  const AttemptId second = got[0].attempt_id;
  coord_->Report(w.session, {Failed(got[0], 4)});  // failed; b skipped
  got = w.conn->Take();  // c
  const AttemptId third = got[0].attempt_id;
  // c's worker goes silent past its lease: lost.
  AdvanceAndTick(options_.lease_timeout + absl::Seconds(1));

  const std::string g = absl::StrCat("graph=", id);
  std::vector<std::string> lines = Decisions();
  EXPECT_THAT(lines, Contains(absl::StrCat("decision=dispatched ", g,
                                           " task=a attempt=", first,
                                           " worker=w1 number=1")));
  EXPECT_THAT(lines, Contains(HasSubstr(absl::StrCat(
                         "decision=retried ", g, " task=a attempt=", first,
                         " worker=w1 exit_code=3"))));
  // The attempt is over: who ran it is no longer in memory.
  EXPECT_THAT(lines, Contains(absl::StrCat(
                         "decision=fenced attempt=", first,
                         " worker=w1 session=", w.session,
                         " reason=\"not a current attempt of this session\"")));
  EXPECT_THAT(lines, Contains(HasSubstr(absl::StrCat(
                         "decision=failed ", g, " task=a attempt=", second,
                         " worker=w1 exit_code=4"))));
  EXPECT_THAT(lines, Contains(absl::StrCat("decision=skipped ", g,
                                           " task=b because=a")));
  EXPECT_THAT(lines, Contains(HasSubstr(absl::StrCat(
                         "decision=lost ", g, " task=c attempt=", third,
                         " worker=w1 reason="))));
}

}  // namespace
}  // namespace vitte::task
