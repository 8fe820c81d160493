// Uses both installed APIs: the in-process executor runs the origin example,
// and the client parses a DAG (no coordinator needed for that).
#include <cstdio>

#include "client/client.h"
#include "client/executor.h"

int main() {
  vitte::task::TaskExecutor exec(2);
  exec.add(vitte::task::Task("analyse", [] { std::puts("analyse"); }));
  exec.add(vitte::task::Task::depends_on("build", {"analyse"},
                                         [] { std::puts("build"); }));
  absl::Status st = exec.run_all();
  auto spec = vitte::task::ParseGraphJson(
      R"({"tasks": [{"id": "a", "command": ["true"]}]})");
  std::printf("%s %d\n", st.ok() ? "ok" : "failed",
              spec.ok() ? spec->tasks_size() : -1);
  return st.ok() && spec.ok() ? 0 : 1;
}
