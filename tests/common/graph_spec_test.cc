#include "common/graph_spec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

using ::testing::HasSubstr;

TaskSpec MakeTask(std::string id, std::vector<std::string> deps = {}) {
  TaskSpec t;
  t.id = std::move(id);
  t.command = {"true"};
  t.deps = std::move(deps);
  return t;
}

TEST(GraphSpecTest, AcceptsValidGraphAndNormalisesAttempts) {
  GraphSpec spec{"g", {MakeTask("a"), MakeTask("b", {"a"})}};
  spec.tasks[0].max_attempts = 0;
  auto dag = ValidateGraphSpec(spec);
  ASSERT_TRUE(dag.ok()) << dag.status();
  EXPECT_EQ(spec.tasks[0].max_attempts, 1);
}

TEST(GraphSpecTest, RefusesEmptyGraph) {
  GraphSpec spec;
  EXPECT_EQ(ValidateGraphSpec(spec).status().message(), "graph has no tasks");
}

TEST(GraphSpecTest, RefusesEmptyCommandNamingTask) {
  GraphSpec spec{"g", {MakeTask("a"), MakeTask("build")}};
  spec.tasks[1].command.clear();
  EXPECT_EQ(ValidateGraphSpec(spec).status().message(),
            "task \"build\" has an empty command");
}

TEST(GraphSpecTest, RefusesBadIds) {
  GraphSpec spec{"g", {MakeTask("a b")}};
  EXPECT_THAT(std::string(ValidateGraphSpec(spec).status().message()),
              HasSubstr("whitespace"));
  spec.tasks[0].id = "";
  EXPECT_THAT(std::string(ValidateGraphSpec(spec).status().message()),
              HasSubstr("empty id"));
  spec.tasks[0].id = std::string(1 << 20, 'x');
  auto status = ValidateGraphSpec(spec).status();
  EXPECT_THAT(std::string(status.message()), HasSubstr("limit of 256"));
  EXPECT_LT(status.message().size(), 200u) << "message must not echo 1 MB";
}

TEST(GraphSpecTest, EnforcesLimits) {
  GraphLimits limits;
  limits.max_tasks = 2;
  limits.max_deps_per_task = 1;
  GraphSpec spec{"g", {MakeTask("a"), MakeTask("b"), MakeTask("c")}};
  EXPECT_THAT(std::string(ValidateGraphSpec(spec, limits).status().message()),
              HasSubstr("3 tasks, more than the limit of 2"));
  GraphSpec deps{"g", {MakeTask("a"), MakeTask("b"), MakeTask("c", {"a", "b"})}};
  limits.max_tasks = 10;
  EXPECT_THAT(std::string(ValidateGraphSpec(deps, limits).status().message()),
              HasSubstr("task \"c\" has 2 dependencies"));
}

TEST(GraphSpecTest, RefusesBadAttemptsAndTimeout) {
  GraphSpec spec{"g", {MakeTask("a")}};
  spec.tasks[0].max_attempts = -1;
  EXPECT_THAT(std::string(ValidateGraphSpec(spec).status().message()),
              HasSubstr("max_attempts -1"));
  spec.tasks[0].max_attempts = 1;
  spec.tasks[0].timeout_s = -5;
  EXPECT_THAT(std::string(ValidateGraphSpec(spec).status().message()),
              HasSubstr("timeout_s -5"));
}

TEST(GraphSpecTest, RefusesBadEnvName) {
  GraphSpec spec{"g", {MakeTask("a")}};
  spec.tasks[0].env["A=B"] = "c";
  EXPECT_THAT(std::string(ValidateGraphSpec(spec).status().message()),
              HasSubstr("invalid environment variable name \"A=B\""));
}

}  // namespace
}  // namespace vitte::task
