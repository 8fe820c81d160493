#include "client/graph_export.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task {
namespace {

// a -> b, a -> c, (b, c) -> d; a succeeded, b failed, c running, d skipped.
v1::Graph Diamond() {
  v1::Graph g;
  g.mutable_summary()->set_name("diamond \"d\"");
  auto add = [&](const char* id, std::vector<std::string> deps,
                 v1::TaskState state) {
    v1::Task* t = g.add_tasks();
    t->mutable_spec()->set_id(id);
    t->mutable_spec()->add_command("true");
    for (const std::string& d : deps) t->mutable_spec()->add_deps(d);
    t->set_state(state);
  };
  add("a", {}, v1::TASK_STATE_SUCCEEDED);
  add("b", {"a"}, v1::TASK_STATE_FAILED);
  add("c", {"a"}, v1::TASK_STATE_RUNNING);
  add("d", {"b", "c"}, v1::TASK_STATE_SKIPPED);
  return g;
}

TEST(GraphExportTest, Dot) {
  EXPECT_EQ(ExportGraph(Diamond(), GraphFormat::kDot),
            R"(digraph "diamond \"d\"" {
  rankdir=LR;
  node [shape=box, style="rounded,filled", fillcolor="#ffffff"];
  "a" [fillcolor="#9be79b", tooltip="succeeded"];
  "b" [fillcolor="#ff9b9b", tooltip="failed"];
  "c" [fillcolor="#a8d8ff", tooltip="running"];
  "d" [fillcolor="#d0d0d0", tooltip="skipped"];
  "a" -> "b";
  "a" -> "c";
  "b" -> "d";
  "c" -> "d";
}
)");
}

TEST(GraphExportTest, Mermaid) {
  EXPECT_EQ(ExportGraph(Diamond(), GraphFormat::kMermaid),
            R"(flowchart LR
  t0["a"]
  t1["b"]
  t2["c"]
  t3["d"]
  t0 --> t1
  t0 --> t2
  t1 --> t3
  t2 --> t3
  class t0 succeeded
  class t1 failed
  class t2 running
  class t3 skipped
  classDef running fill:#a8d8ff
  classDef succeeded fill:#9be79b
  classDef failed fill:#ff9b9b
  classDef skipped fill:#d0d0d0
)");
}

TEST(GraphExportTest, Json) {
  EXPECT_EQ(ExportGraph(Diamond(), GraphFormat::kJson),
            R"({
  "name": "diamond \"d\"",
  "tasks": [
    {"id": "a", "state": "succeeded"},
    {"id": "b", "state": "failed"},
    {"id": "c", "state": "running"},
    {"id": "d", "state": "skipped"}
  ],
  "edges": [
    {"from": "a", "to": "b"},
    {"from": "a", "to": "c"},
    {"from": "b", "to": "d"},
    {"from": "c", "to": "d"}
  ]
}
)");
}

// A DAG file not yet submitted: no state, no colour; ids that Mermaid
// would read as syntax stay labels.
TEST(GraphExportTest, FileWithoutStates) {
  v1::GraphSpec spec;
  spec.set_name("f");
  v1::TaskSpec* t = spec.add_tasks();
  t->set_id("x-->\"y\"");
  t->add_command("true");
  const v1::Graph g = GraphOfSpec(spec);
  EXPECT_EQ(ExportGraph(g, GraphFormat::kMermaid),
            "flowchart LR\n  t0[\"x-->#quot;y#quot;\"]\n");
  EXPECT_THAT(ExportGraph(g, GraphFormat::kDot),
              ::testing::HasSubstr("  \"x-->\\\"y\\\"\";\n"));
  EXPECT_THAT(ExportGraph(g, GraphFormat::kJson),
              ::testing::HasSubstr("{\"id\": \"x-->\\\"y\\\"\"}"));
}

TEST(GraphExportTest, ParseFormat) {
  EXPECT_EQ(*ParseGraphFormat("mermaid"), GraphFormat::kMermaid);
  EXPECT_THAT(ParseGraphFormat("svg").status().message(),
              ::testing::HasSubstr("\"svg\""));
}

}  // namespace
}  // namespace vitte::task
