// Store::PastDurations: what tasks took in earlier graphs of the same name,
// the history behind the dashboard's estimates. Real SQLite on a temp file.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/graph_spec.h"
#include "coordinator/store.h"
#include "coordinator/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/test_util.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::TempDir;

class StoreHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(dir_.File("h.db"));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  // A graph "name" of tasks a and b (b after a).
  GraphId Insert(const std::string& name) {
    GraphSpec spec = MakeGraph(name, {MakeTask("a"), MakeTask("b", {"a"})});
    absl::StatusOr<Dag> dag = ValidateGraphSpec(spec);
    EXPECT_TRUE(dag.ok()) << dag.status();
    GraphRecord record;
    record.name = name;
    absl::StatusOr<GraphId> id = store_->InsertGraph(
        record, spec, *dag, std::vector<TaskStatus>(spec.tasks.size()));
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or(0);
  }

  // An attempt of task `task` (0 = a, 1 = b) that ran from 1000 for `took`.
  void AddAttempt(GraphId graph, int32_t task, int32_t number,
                  AttemptState state, int64_t took) {
    AttemptRecord a;
    a.id = ++last_attempt_;
    a.graph_id = graph;
    a.task_index = task;
    a.number = number;
    a.worker = "w";
    a.state = state;
    a.started_at_ms = 1000;
    a.finished_at_ms = state == AttemptState::kRunning ? 0 : 1000 + took;
    StoreWrites writes;
    writes.attempts.push_back(a);
    absl::Status s = store_->Commit(writes);
    EXPECT_TRUE(s.ok()) << s;
  }

  absl::flat_hash_map<std::string, std::vector<int64_t>> Past(
      const std::string& name, GraphId before, int max_graphs = 5) {
    auto past = store_->PastDurations(name, before, max_graphs);
    EXPECT_TRUE(past.ok()) << past.status();
    return past.value_or(
        absl::flat_hash_map<std::string, std::vector<int64_t>>{});
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  AttemptId last_attempt_ = 0;
};

TEST_F(StoreHistoryTest, SucceededAttemptsOfEarlierGraphsWithTheSameName) {
  GraphId first = Insert("build");
  AddAttempt(first, 0, 1, AttemptState::kFailed, 50);  // not a success
  AddAttempt(first, 0, 2, AttemptState::kSucceeded, 100);
  AddAttempt(first, 1, 1, AttemptState::kSucceeded, 300);
  GraphId other = Insert("deploy");
  AddAttempt(other, 0, 1, AttemptState::kSucceeded, 9999);
  GraphId second = Insert("build");
  AddAttempt(second, 0, 1, AttemptState::kSucceeded, 120);
  AddAttempt(second, 1, 1, AttemptState::kLost, 10);
  GraphId third = Insert("build");
  AddAttempt(third, 0, 1, AttemptState::kRunning, 0);
  AddAttempt(third, 1, 1, AttemptState::kSucceeded, 7);

  // Newest graph first; the graph asked about and later ones are left out.
  EXPECT_THAT(Past("build", third),
              UnorderedElementsAre(Pair("a", ElementsAre(120, 100)),
                                   Pair("b", ElementsAre(300))));
  // Bounded to the most recent graphs.
  EXPECT_THAT(Past("build", third, /*max_graphs=*/1),
              UnorderedElementsAre(Pair("a", ElementsAre(120))));
  EXPECT_THAT(Past("build", first), IsEmpty());
  EXPECT_THAT(Past("nothing", third + 1), IsEmpty());
  EXPECT_THAT(Past("deploy", third + 1),
              UnorderedElementsAre(Pair("a", ElementsAre(9999))));
}

}  // namespace
}  // namespace vitte::task
