#include "common/labels.h"

#include "gtest/gtest.h"

namespace vitte::task {
namespace {

TEST(LabelsMatchTest, WorkerMustCarryEveryRequiredLabelWithSameValue) {
  const Labels linux_amd64 = {{"os", "linux"}, {"arch", "amd64"}};
  EXPECT_TRUE(LabelsMatch({}, {}));
  EXPECT_TRUE(LabelsMatch({}, linux_amd64));
  EXPECT_TRUE(LabelsMatch({{"os", "linux"}}, linux_amd64));
  EXPECT_TRUE(LabelsMatch(linux_amd64, linux_amd64));
  EXPECT_FALSE(LabelsMatch({{"os", "linux"}}, {}));
  EXPECT_FALSE(LabelsMatch({{"os", "linux"}}, {{"os", "darwin"}}));
  EXPECT_FALSE(LabelsMatch({{"os", "linux"}, {"gpu", "yes"}}, linux_amd64));
  // Values are compared exactly.
  EXPECT_FALSE(LabelsMatch({{"os", "linux"}}, {{"os", "Linux"}}));
  EXPECT_FALSE(LabelsMatch({{"os", ""}}, {}));
  EXPECT_TRUE(LabelsMatch({{"os", ""}}, {{"os", ""}}));
}

TEST(WorkerTakesTest, ServeLabelsMustAllBeRequiredByTheTask) {
  const Labels worker = {{"os", "linux"}, {"pool", "release"}};
  const Labels serve = {{"pool", "release"}};
  // Without serve-labels: the plain label rule.
  EXPECT_TRUE(WorkerTakes({}, worker, {}));
  EXPECT_TRUE(WorkerTakes({{"os", "linux"}}, worker, {}));
  // With them, unlabelled tasks and tasks not asking for the pool are out.
  EXPECT_FALSE(WorkerTakes({}, worker, serve));
  EXPECT_FALSE(WorkerTakes({{"os", "linux"}}, worker, serve));
  EXPECT_FALSE(WorkerTakes({{"pool", "nightly"}}, worker, serve));
  EXPECT_TRUE(WorkerTakes({{"pool", "release"}}, worker, serve));
  EXPECT_TRUE(
      WorkerTakes({{"pool", "release"}, {"os", "linux"}}, worker, serve));
  // The required labels still apply on top.
  EXPECT_FALSE(
      WorkerTakes({{"pool", "release"}, {"gpu", "yes"}}, worker, serve));
  // Several serve-labels: the task needs every one.
  const Labels two = {{"pool", "release"}, {"os", "linux"}};
  EXPECT_FALSE(WorkerTakes({{"pool", "release"}}, worker, two));
  EXPECT_TRUE(WorkerTakes(two, worker, two));
}

TEST(MergeServeLabelsTest, AddsServeLabelsAndRefusesContradictions) {
  Labels labels = {{"os", "linux"}};
  ASSERT_TRUE(MergeServeLabels({{"pool", "release"}}, labels).ok());
  EXPECT_EQ(labels, (Labels{{"os", "linux"}, {"pool", "release"}}));
  // Repeating a label with its value is fine.
  ASSERT_TRUE(MergeServeLabels({{"os", "linux"}}, labels).ok());
  absl::Status s = MergeServeLabels({{"a", "1"}, {"os", "darwin"}}, labels);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "serve-label os=darwin contradicts label os=linux");
  EXPECT_EQ(labels, (Labels{{"os", "linux"}, {"pool", "release"}}));
}

TEST(FormatLabelsTest, SortedByKey) {
  EXPECT_EQ(FormatLabels({}, ","), "");
  EXPECT_EQ(FormatLabels({{"z", "1"}, {"a", ""}}, ","), "a=,z=1");
  EXPECT_EQ(FormatLabels({{"z", "1"}, {"a", "2"}}, " "), "a=2 z=1");
}

}  // namespace
}  // namespace vitte::task
