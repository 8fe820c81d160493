// The example of the original vitte-task README, in C++: "build" runs after
// "analyse", on a pool of 4 threads.
#include <cstdio>

#include "absl/status/status.h"
#include "client/executor.h"

int main() {
  vitte::task::TaskExecutor exec(4);
  exec.add(
      vitte::task::Task("analyse", [] { std::puts("Analyse du module..."); }));
  exec.add(vitte::task::Task::depends_on(
      "build", {"analyse"}, [] { std::puts("Compilation du module..."); }));
  absl::Status st = exec.run_all();
  std::printf("run_all: %s\n", st.ToString().c_str());
  return st.ok() ? 0 : 1;
}
