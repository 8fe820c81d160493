// Cost of the durable commit that every state change pays, in both SQLite
// synchronous modes (--sync full / normal), for batches of 1 and 64 state
// changes per transaction.
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "benchmark/benchmark.h"
#include "coordinator/store.h"

namespace vitte::task {
namespace {

// A store in a fresh directory under $TMPDIR (a real disk file, since the
// point is the cost of fsync), holding one graph of 100,000 tasks.
struct BenchStore {
  explicit BenchStore(bool full) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "store_bench_XXXXXX").string();
    dir = mkdtemp(pattern.data());
    StoreOptions options;
    options.synchronous_full = full;
    store = *Store::Open(dir + "/bench.db", options);
    GraphSpec spec;
    for (int i = 0; i < kTasks; ++i) {
      TaskSpec& t = spec.tasks.emplace_back();
      t.id = "t" + std::to_string(i);
      t.command = {"true"};
    }
    Dag dag = *ValidateGraphSpec(spec);
    GraphRecord record;
    record.name = "bench";
    graph = *store->InsertGraph(record, spec, dag,
                                std::vector<TaskStatus>(kTasks));
  }
  ~BenchStore() {
    store.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  static constexpr int kTasks = 100'000;
  std::string dir;
  std::unique_ptr<Store> store;
  GraphId graph = 0;
};

// One transaction = `batch` tasks that finish: a task update and an attempt
// row each, the shape of a worker's batched results.
void BM_CommitBatch(benchmark::State& state) {
  const bool full = state.range(0) != 0;
  const int batch = static_cast<int>(state.range(1));
  BenchStore s(full);
  AttemptId next_attempt = 1;
  int32_t next_task = 0;
  StoreWrites writes;
  for (auto _ : state) {
    writes.Clear();
    for (int i = 0; i < batch; ++i) {
      int32_t task = next_task++ % BenchStore::kTasks;
      TaskStatus status;
      status.state = TaskState::kSucceeded;
      status.attempts = 1;
      writes.tasks.push_back({s.graph, task, status});
      AttemptRecord a;
      a.id = next_attempt++;
      a.graph_id = s.graph;
      a.task_index = task;
      a.number = 1;
      a.worker = "bench";
      a.state = AttemptState::kSucceeded;
      a.exit_code = 0;
      writes.attempts.push_back(std::move(a));
    }
    if (absl::Status st = s.store->Commit(writes); !st.ok()) {
      state.SkipWithError(std::string(st.message()).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.SetLabel(full ? "sync=full" : "sync=normal");
}
BENCHMARK(BM_CommitBatch)
    ->ArgNames({"full", "batch"})
    ->ArgsProduct({{1, 0}, {1, 64}})
    ->UseRealTime();

}  // namespace
}  // namespace vitte::task

BENCHMARK_MAIN();
