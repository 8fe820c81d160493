// Micro-benchmarks of the coordinator's hot paths, without a network:
//   BM_ReadinessUpdate   a task succeeds and its dependents' counts of
//                        unfinished deps drop (GraphRun::Succeed), per task
//   BM_ReadyQueuePop     picking the next task for a worker among label sets
//   BM_ReportAndDispatch a worker's batch of results applied, the freed
//                        slots refilled and the whole batch committed
//                        (Coordinator::Report, inline commit, sync normal)
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "common/clock.h"
#include "coordinator/coordinator.h"
#include "coordinator/graph_run.h"
#include "coordinator/ready_queue.h"
#include "coordinator/store.h"
#include "spdlog/spdlog.h"

namespace vitte::task {
namespace {

// `width` x `depth` tasks; task i of layer L > 0 depends on tasks i and
// i + 1 (mod width) of layer L - 1, like the bench's layered workload.
GraphSpec Layered(int width, int depth) {
  GraphSpec spec;
  spec.name = "layered";
  for (int l = 0; l < depth; ++l) {
    for (int i = 0; i < width; ++i) {
      TaskSpec& t = spec.tasks.emplace_back();
      t.id = absl::StrCat("L", l, "_", i);
      t.command = {"true"};
      if (l > 0) {
        t.deps = {absl::StrCat("L", l - 1, "_", i),
                  absl::StrCat("L", l - 1, "_", (i + 1) % width)};
      }
    }
  }
  return spec;
}

// Runs a whole layered graph through Start and Succeed, in ready order.
void BM_ReadinessUpdate(benchmark::State& state) {
  const int width = static_cast<int>(state.range(0));
  GraphSpec spec = Layered(width, width);
  Dag dag = *ValidateGraphSpec(spec);
  auto shared_spec = std::make_shared<const GraphSpec>(spec);
  auto shared_dag = std::make_shared<const Dag>(dag);
  const size_t n = spec.tasks.size();
  std::vector<TaskChange> changes;
  std::vector<int32_t> ready;
  for (auto _ : state) {
    state.PauseTiming();
    GraphRun run(GraphRecord{}, shared_spec, shared_dag,
                 std::vector<TaskStatus>(n));
    ready = run.ReadyTasks();
    state.ResumeTiming();
    AttemptId attempt = 0;
    for (size_t head = 0; head < ready.size(); ++head) {
      changes.clear();
      run.Start(ready[head], ++attempt, changes);
      changes.clear();
      run.Succeed(ready[head], changes);
      for (const TaskChange& c : changes) {
        if (c.state == TaskState::kReady) ready.push_back(c.index);
      }
    }
    benchmark::DoNotOptimize(run.finished());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_ReadinessUpdate)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

// Pushes `n` ready entries spread over 4 label sets, then pops them all for
// a worker that has every label.
void BM_ReadyQueuePop(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::vector<Labels> sets = {
      {}, {{"os", "linux"}}, {{"arch", "x86_64"}},
      {{"os", "linux"}, {"arch", "x86_64"}}};
  const Labels worker = {{"os", "linux"}, {"arch", "x86_64"}};
  for (auto _ : state) {
    ReadyQueue queue;
    for (int i = 0; i < n; ++i) {
      queue.Push(sets[i % sets.size()], {i % 7, 1, i});
    }
    int popped = 0;
    while (queue.PopFor(worker)) ++popped;
    benchmark::DoNotOptimize(popped);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_ReadyQueuePop)->Arg(10'000);

class NullConnection : public WorkerConnection {
 public:
  void OnRegistered(SessionId, absl::Duration) override {}
  void Send(std::vector<Assignment> assignments,
            std::vector<AttemptId>) override {
    for (Assignment& a : assignments) received.push_back(std::move(a));
  }
  void Close(const absl::Status&) override {}
  std::vector<Assignment> received;
};

// One worker with `batch` slots: each iteration reports its whole batch of
// results, and the coordinator refills the slots, in one commit.
void BM_ReportAndDispatch(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  std::string pattern =
      (std::filesystem::temp_directory_path() / "core_bench_XXXXXX").string();
  const std::string dir = mkdtemp(pattern.data());
  {
    StoreOptions store_options;
    store_options.synchronous_full = false;
    auto store = *Store::Open(dir + "/bench.db", store_options);
    FakeClock clock;
    auto coordinator = *Coordinator::Create(*store, clock);
    GraphSpec spec;
    for (int i = 0; i < 1'000'000; ++i) {
      TaskSpec& t = spec.tasks.emplace_back();
      t.id = absl::StrCat("t", i);
      t.command = {"true"};
    }
    (void)*coordinator->Submit(std::move(spec), "");
    auto conn = std::make_shared<NullConnection>();
    WorkerRegistration reg;
    reg.name = "bench";
    reg.slots = batch;
    SessionId session = *coordinator->OpenSession(reg, conn);
    std::vector<AttemptOutcome> results;
    for (auto _ : state) {
      results.clear();
      for (const Assignment& a : conn->received) {
        AttemptOutcome o;
        o.attempt_id = a.attempt_id;
        o.success = true;
        results.push_back(o);
      }
      conn->received.clear();
      if (results.empty()) {
        state.SkipWithError("the graph ran out of tasks");
        break;
      }
      coordinator->Report(session, results);
    }
    state.SetItemsProcessed(state.iterations() * batch);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}
BENCHMARK(BM_ReportAndDispatch)->Arg(1)->Arg(64)->Arg(256);

}  // namespace
}  // namespace vitte::task

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // the coordinator logs each graph
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
