#include "common/dag.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Node {
  std::string id;
  std::vector<std::string> deps;
};

absl::StatusOr<Dag> BuildFrom(const std::vector<Node>& nodes) {
  return Dag::Build(
      nodes.size(), [&](size_t i) -> const std::string& { return nodes[i].id; },
      [&](size_t i) -> const std::vector<std::string>& { return nodes[i].deps; });
}

TEST(DagTest, BuildsDiamond) {
  auto dag = BuildFrom({{"a", {}}, {"b", {"a"}}, {"c", {"a"}}, {"d", {"c", "b"}}});
  ASSERT_TRUE(dag.ok()) << dag.status();
  EXPECT_EQ(dag->size(), 4u);
  EXPECT_THAT(dag->deps(3), ElementsAre(1, 2));
  EXPECT_THAT(dag->dependents(0), ElementsAre(1, 2));
  EXPECT_THAT(dag->dependents(3), ElementsAre());
}

TEST(DagTest, RepeatedDependencyCountsOnce) {
  auto dag = BuildFrom({{"a", {}}, {"b", {"a", "a"}}});
  ASSERT_TRUE(dag.ok());
  EXPECT_THAT(dag->deps(1), ElementsAre(0));
  EXPECT_THAT(dag->dependents(0), ElementsAre(1));
}

TEST(DagTest, CycleIsSpelledOut) {
  auto dag = BuildFrom({{"a", {"c"}}, {"b", {"a"}}, {"c", {"b"}}});
  ASSERT_FALSE(dag.ok());
  EXPECT_EQ(dag.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dag.status().message(), "dependency cycle: a -> c -> b -> a");
}

TEST(DagTest, CycleDownstreamOfHealthyNodesIsFound) {
  auto dag = BuildFrom(
      {{"root", {}}, {"x", {"root", "z"}}, {"y", {"x"}}, {"z", {"y"}}, {"w", {"x"}}});
  ASSERT_FALSE(dag.ok());
  EXPECT_EQ(dag.status().message(), "dependency cycle: x -> z -> y -> x");
}

TEST(DagTest, SelfDependencyIsACycle) {
  auto dag = BuildFrom({{"a", {"a"}}});
  ASSERT_FALSE(dag.ok());
  EXPECT_EQ(dag.status().message(), "dependency cycle: a -> a");
}

TEST(DagTest, UnknownDependencyNamesBoth) {
  auto dag = BuildFrom({{"compile", {}}, {"link", {"compil"}}});
  ASSERT_FALSE(dag.ok());
  EXPECT_EQ(dag.status().message(),
            "task \"link\" depends on unknown task \"compil\"");
}

TEST(DagTest, DuplicateIdNamesPositions) {
  auto dag = BuildFrom({{"a", {}}, {"b", {}}, {"a", {}}});
  ASSERT_FALSE(dag.ok());
  EXPECT_THAT(dag.status().message(), HasSubstr("duplicate task id \"a\""));
  EXPECT_THAT(dag.status().message(), HasSubstr("#1 and #3"));
}

TEST(DagTest, DeepChainDoesNotRecurse) {
  // 200k levels would overflow the stack of a recursive walk.
  std::vector<Node> nodes(200'000);
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].id = std::to_string(i);
    if (i > 0) nodes[i].deps = {std::to_string(i - 1)};
  }
  nodes[0].deps = {std::to_string(nodes.size() - 1)};  // closes a huge cycle
  auto dag = BuildFrom(nodes);
  ASSERT_FALSE(dag.ok());
  EXPECT_THAT(dag.status().message(), HasSubstr("dependency cycle: 0 -> 199999"));
  nodes[0].deps.clear();
  EXPECT_TRUE(BuildFrom(nodes).ok());
}

}  // namespace
}  // namespace vitte::task
