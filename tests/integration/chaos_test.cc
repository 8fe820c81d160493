// The chaos test: a 500-task layered graph runs on three workers while the
// test SIGKILLs workers (restarting them under the same name), freezes
// them past their lease, and SIGKILLs the daemon (restarting it on the same
// database and port). At the end, nothing is lost and nothing is
// duplicated except what a kill caught in flight:
//   - the graph succeeded, each task with exactly one succeeded attempt,
//     and no attempt is left running;
//   - every task's side effect (a line "TASK ATTEMPT" in a shared log) is
//     there, each line names an attempt the database recorded for that
//     task, and each attempt ran at most once;
//   - a task that ran more than once did so only through attempts that are
//     lost in the database and were in flight at a fault of their worker
//     or of the daemon;
//   - no task started before its dependencies succeeded;
//   - PRAGMA integrity_check is ok after every daemon crash and at the end.
//
// The faults are spread over the run by progress (the k-th of N faults
// waits for 0.75 k/N of the tasks to succeed), in an order drawn from a
// fixed seed (printed; override with VITTE_CHAOS_SEED to explore).
//
// The daemon runs with the harness's timings: heartbeat 100 ms, lease 1 s.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::integration {
namespace {

constexpr int kLayers = 10;
constexpr int kWidth = 50;
constexpr int kTasks = kLayers * kWidth;
constexpr int kWorkers = 3;
constexpr int kSlots = 4;
constexpr uint32_t kDefaultSeed = 20261125;

enum class FaultKind {
  // SIGKILL a worker and restart it under the same name at once (its old
  // attempts are re-queued when it registers).
  kKillWorker,
  // SIGKILL a worker and restart it only after the lease (its broken
  // stream keeps its attempts for the reconnect grace only).
  kKillWorkerForAWhile,
  // SIGSTOP a worker past the lease, then SIGCONT (it comes back with
  // results that are no longer current).
  kFreezeWorker,
  // SIGKILL the daemon and restart it on the same database and port (the
  // workers reconnect and claim their attempts).
  kKillCoordinator,
};

struct Fault {
  FaultKind kind;
  std::string worker;    // empty for the coordinator
  int64_t at_ms = 0;     // when the signal was sent
  int64_t until_ms = 0;  // when the victim was back (restarted or resumed)
};

const char* Describe(FaultKind kind) {
  switch (kind) {
    case FaultKind::kKillWorker:
      return "SIGKILL + restart of worker";
    case FaultKind::kKillWorkerForAWhile:
      return "SIGKILL (restart at the next fault) of worker";
    case FaultKind::kFreezeWorker:
      return "SIGSTOP past the lease of worker";
    case FaultKind::kKillCoordinator:
      return "SIGKILL + restart of the daemon";
  }
  return "?";
}

std::string Name(int layer, int j) { return absl::StrCat("t", layer, "_", j); }

uint32_t Seed() {
  uint32_t seed = kDefaultSeed;
  if (const char* env = std::getenv("VITTE_CHAOS_SEED"); env != nullptr) {
    if (!absl::SimpleAtoi(env, &seed)) seed = kDefaultSeed;
  }
  return seed;
}

class ChaosTest : public IntegrationTest {
 protected:
  // The graph's summary, or nullopt while the daemon is down.
  std::optional<v1::GraphSummary> Summary(const std::string& graph_id) {
    absl::StatusOr<v1::ListGraphsResponse> list = ListGraphs();
    if (!list.ok()) return std::nullopt;
    for (const v1::GraphSummary& g : list->graphs()) {
      if (g.graph_id() == graph_id) return g;
    }
    return std::nullopt;
  }

  void StartChaosWorker(int i) { StartWorker(absl::StrCat("w", i), kSlots); }
};

TEST_F(ChaosTest, LayeredGraphSurvivesKilledWorkersAndDaemon) {
  const uint32_t seed = Seed();
  std::cout << "chaos seed " << seed << " (set VITTE_CHAOS_SEED to change)"
            << std::endl;
  std::mt19937 rng(seed);
  const absl::Time began = absl::Now();

  // 10 layers of 50; each task depends on two tasks of the layer before,
  // appends "TASK ATTEMPT" to the log (one short write: atomic with >>),
  // and takes 20-200 ms.
  const std::string log = Path("side-effects.log");
  std::map<std::string, std::vector<std::string>> deps_of;
  std::vector<v1::TaskSpec> tasks;
  for (int layer = 0; layer < kLayers; ++layer) {
    for (int j = 0; j < kWidth; ++j) {
      std::vector<std::string> deps;
      if (layer > 0) {
        int other = (j * 7 + 3) % kWidth;
        if (other == j) other = (j + 1) % kWidth;
        deps = {Name(layer - 1, j), Name(layer - 1, other)};
      }
      // Long enough that the graph does not outrun the fault plan.
      const int sleep_ms = 20 + ((layer * kWidth + j) * 37) % 181;
      tasks.push_back(ShellTask(
          Name(layer, j),
          absl::StrCat("echo \"$VITTE_TASK_ID $VITTE_ATTEMPT_ID\" >> ", log,
                       "; sleep 0.", absl::Dec(sleep_ms, absl::kZeroPad3)),
          deps));
      deps_of[Name(layer, j)] = deps;
    }
  }
  // Submitted in shuffled order: submission order must not matter.
  std::shuffle(tasks.begin(), tasks.end(), rng);

  // The test kills workers often enough that an innocent task can be in
  // flight at three kills (the same worker killed thrice in 300 ms, say):
  // the poison bound (FaultTest.PoisonTaskFailsAfterMaxLostAttempts) would
  // then fail it, rightly. Here every task must get through.
  SetTaskdFlag("max-lost-attempts", "1000");
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  std::vector<std::string> names;
  for (int i = 0; i < kWorkers; ++i) {
    ASSERT_NO_FATAL_FAILURE(StartChaosWorker(i));
    names.push_back(absl::StrCat("w", i));
  }
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers(names));
  const std::string id = Submit(WriteDag("chaos.json", Graph("chaos", tasks)));
  ASSERT_FALSE(id.empty());

  // The fault plan: rounds of 7 faults (3 worker kills, 1 longer worker
  // kill, 1 freeze, 2 daemon kills), each round shuffled. The test cannot
  // always keep up with the graph (a daemon restart takes a few hundred
  // ms), so the last two rounds may find the graph finished; the three
  // before still hit every kind of fault several times.
  constexpr int kRounds = 5;
  std::vector<FaultKind> plan;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<FaultKind> faults_of_round = {
        FaultKind::kKillWorker,          FaultKind::kKillWorker,
        FaultKind::kKillWorker,          FaultKind::kKillWorkerForAWhile,
        FaultKind::kFreezeWorker,        FaultKind::kKillCoordinator,
        FaultKind::kKillCoordinator};
    std::shuffle(faults_of_round.begin(), faults_of_round.end(), rng);
    plan.insert(plan.end(), faults_of_round.begin(), faults_of_round.end());
  }
  std::uniform_int_distribution<int> pick_worker(0, kWorkers - 1);
  std::uniform_int_distribution<int> jitter_ms(0, 150);

  std::vector<Fault> faults;
  // Workers out of action (frozen, or killed for a while) until due_ms.
  struct Recovery {
    size_t fault;
    int64_t due_ms;
  };
  std::vector<Recovery> pending;
  // Brings back the workers due (all of them if `all`).
  auto recover = [&](bool all) {
    for (auto it = pending.begin(); it != pending.end();) {
      if (!all && NowMs() < it->due_ms) {
        ++it;
        continue;
      }
      Fault& f = faults[it->fault];
      if (f.kind == FaultKind::kFreezeWorker) {
        absl::Status s = worker(f.worker).Signal(SIGCONT);
        if (!s.ok()) ADD_FAILURE() << s;
      } else {
        StartChaosWorker(f.worker.back() - '0');
      }
      f.until_ms = NowMs();
      it = pending.erase(it);
    }
  };
  auto out_of_action = [&](int w) {
    return std::any_of(pending.begin(), pending.end(), [&](const Recovery& r) {
      return faults[r.fault].worker == absl::StrCat("w", w);
    });
  };
  const int n = static_cast<int>(plan.size());
  for (int k = 0; k < n; ++k) {
    // Spread over the first half of the run: faults that come late may find
    // the graph finished (workers come back within ~0.1 s, so the graph
    // races ahead of the plan).
    const int64_t threshold = (k + 1) * (kTasks / 2) / n;
    bool reached = PollUntil(absl::Seconds(60), [&] {
      recover(false);
      std::optional<v1::GraphSummary> s = Summary(id);
      return s.has_value() && (s->counts().succeeded() >= threshold ||
                               s->state() != v1::GRAPH_STATE_RUNNING);
    });
    ASSERT_TRUE(reached) << "no progress to " << threshold
                         << " succeeded tasks in 60 s (fault " << k << ")";
    std::optional<v1::GraphSummary> s = Summary(id);
    if (s.has_value() && s->state() != v1::GRAPH_STATE_RUNNING) break;
    // Not always right at a dispatch or a report.
    std::this_thread::sleep_for(std::chrono::milliseconds(jitter_ms(rng)));

    Fault f;
    f.kind = plan[k];
    int w = pick_worker(rng);
    if (f.kind != FaultKind::kKillCoordinator) {
      // A worker still frozen or down is not hit again.
      for (int tries = 0; tries < kWorkers && out_of_action(w); ++tries) {
        w = (w + 1) % kWorkers;
      }
      if (out_of_action(w)) recover(true);
      f.worker = absl::StrCat("w", w);
    }
    f.at_ms = NowMs();
    f.until_ms = std::numeric_limits<int64_t>::max();  // set once back
    switch (f.kind) {
      case FaultKind::kKillWorker:
        ASSERT_NO_FATAL_FAILURE(KillWorker(f.worker));
        ASSERT_NO_FATAL_FAILURE(StartChaosWorker(w));
        f.until_ms = NowMs();
        break;
      case FaultKind::kKillWorkerForAWhile:
        ASSERT_NO_FATAL_FAILURE(KillWorker(f.worker));
        // Back after the lease: the daemon gave up on its broken stream
        // after the reconnect grace.
        pending.push_back({faults.size(), f.at_ms + kHarnessLeaseMs + 500});
        break;
      case FaultKind::kFreezeWorker:
        ASSERT_TRUE(worker(f.worker).Signal(SIGSTOP).ok());
        // Woken after the lease: the daemon has declared it lost.
        pending.push_back({faults.size(), f.at_ms + kHarnessLeaseMs + 500});
        break;
      case FaultKind::kKillCoordinator: {
        ASSERT_NO_FATAL_FAILURE(KillCoordinator());
        absl::StatusOr<std::string> check = SqliteIntegrityCheck(db_path());
        ASSERT_TRUE(check.ok()) << check.status();
        EXPECT_EQ(*check, "ok") << "after daemon kill at fault " << k;
        ASSERT_NO_FATAL_FAILURE(StartCoordinatorOnSamePort());
        f.until_ms = NowMs();
        break;
      }
    }
    std::cout << "fault " << k << " at "
              << absl::ToInt64Milliseconds(absl::Now() - began)
              << " ms: " << Describe(f.kind) << " " << f.worker << " ("
              << (s.has_value() ? s->counts().succeeded() : -1)
              << " tasks done)" << std::endl;
    faults.push_back(f);
  }
  // The last workers out of action come back when due (the graph needs
  // them, and a frozen one must stay frozen past its lease).
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    recover(false);
    return pending.empty();
  }));
  const int coordinator_kills = static_cast<int>(std::count_if(
      faults.begin(), faults.end(),
      [](const Fault& f) { return f.kind == FaultKind::kKillCoordinator; }));
  const int worker_kills = static_cast<int>(
      std::count_if(faults.begin(), faults.end(), [](const Fault& f) {
        return f.kind == FaultKind::kKillWorker ||
               f.kind == FaultKind::kKillWorkerForAWhile;
      }));
  const int rounds_done = static_cast<int>(faults.size()) / 7;
  EXPECT_GE(rounds_done, kRounds - 2)
      << "the graph ended before most of the faults";

  std::optional<v1::GraphSummary> end;
  bool finished = PollUntil(absl::Seconds(240) - (absl::Now() - began), [&] {
    end = Summary(id);
    return end.has_value() && end->state() != v1::GRAPH_STATE_RUNNING;
  });
  ASSERT_TRUE(finished) << "the graph did not finish within 240 s: "
                        << (end.has_value() ? end->DebugString() : "no daemon");
  std::cout << "graph finished after "
            << absl::ToInt64Milliseconds(absl::Now() - began) << " ms"
            << std::endl;

  absl::StatusOr<v1::Graph> graph = GetGraph(id);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->summary().state(), v1::GRAPH_STATE_SUCCEEDED);
  EXPECT_EQ(graph->summary().counts().succeeded(), kTasks);
  ASSERT_EQ(graph->tasks_size(), kTasks);

  // Every attempt the database knows, by id.
  std::map<uint64_t, std::pair<std::string, const v1::Attempt*>> attempts;
  std::map<std::string, const v1::Attempt*> succeeded;
  int lost = 0;
  for (const v1::Task& t : graph->tasks()) {
    const std::string& task = t.spec().id();
    EXPECT_EQ(t.state(), v1::TASK_STATE_SUCCEEDED) << task;
    int successes = 0;
    for (const v1::Attempt& a : t.attempts()) {
      attempts[a.attempt_id()] = {task, &a};
      switch (a.state()) {
        case v1::ATTEMPT_STATE_SUCCEEDED:
          ++successes;
          succeeded[task] = &a;
          break;
        case v1::ATTEMPT_STATE_LOST:
          ++lost;
          break;
        default:
          ADD_FAILURE() << task << " attempt " << a.attempt_id() << " is "
                        << v1::AttemptState_Name(a.state()) << ": "
                        << a.DebugString();
      }
    }
    EXPECT_EQ(successes, 1)
        << task << " has " << successes << " succeeded attempts:\n"
        << t.DebugString();
  }

  // No task started (in any attempt) before its dependencies succeeded.
  for (const v1::Task& t : graph->tasks()) {
    for (const std::string& dep : deps_of[t.spec().id()]) {
      auto d = succeeded.find(dep);
      if (d == succeeded.end()) continue;  // reported above
      for (const v1::Attempt& a : t.attempts()) {
        EXPECT_GE(a.started_at_ms(), d->second->finished_at_ms())
            << t.spec().id() << " attempt " << a.attempt_id()
            << " started before its dependency " << dep << " succeeded";
      }
    }
  }

  // The side effects against the attempt records.
  std::map<uint64_t, int> runs;  // attempt -> lines in the log
  std::set<std::string> tasks_seen;
  const std::vector<std::string> lines = ReadLines(log);
  for (const std::string& line : lines) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    uint64_t attempt = 0;
    ASSERT_TRUE(parts.size() == 2 && absl::SimpleAtoi(parts[1], &attempt))
        << "torn or malformed log line \"" << line << "\"";
    tasks_seen.insert(parts[0]);
    auto it = attempts.find(attempt);
    ASSERT_NE(it, attempts.end())
        << "the log has attempt " << attempt << " of " << parts[0]
        << ", which the database does not know";
    EXPECT_EQ(it->second.first, parts[0])
        << "attempt " << attempt << " belongs to " << it->second.first;
    ++runs[attempt];
  }
  for (const auto& [attempt, count] : runs) {
    EXPECT_EQ(count, 1) << "attempt " << attempt << " ran " << count
                        << " times";
  }
  int duplicates = 0;
  for (const auto& [task, a] : succeeded) {
    EXPECT_EQ(runs[a->attempt_id()], 1)
        << "the succeeded attempt " << a->attempt_id() << " of " << task
        << " left no side effect";
  }
  EXPECT_EQ(tasks_seen.size(), static_cast<size_t>(kTasks));
  for (const auto& [attempt, count] : runs) {
    const auto& [task, a] = attempts[attempt];
    if (a->state() == v1::ATTEMPT_STATE_SUCCEEDED) continue;
    ++duplicates;
    // A side effect of an attempt that did not succeed: the attempt must be
    // lost, and have been in flight at a fault that explains the loss (of
    // its worker, or of the daemon).
    EXPECT_EQ(a->state(), v1::ATTEMPT_STATE_LOST) << a->DebugString();
    const bool explained =
        std::any_of(faults.begin(), faults.end(), [&](const Fault& f) {
          bool concerns = f.worker.empty() || f.worker == a->worker();
          return concerns && a->started_at_ms() <= f.until_ms &&
                 a->finished_at_ms() >= f.at_ms;
        });
    EXPECT_TRUE(explained) << "attempt " << attempt << " of " << task
                           << " ran and was lost, but no fault explains it:\n"
                           << a->DebugString();
  }
  std::cout << lines.size() << " side effects for " << kTasks << " tasks ("
            << duplicates << " from lost attempts); " << attempts.size()
            << " attempts, " << lost << " lost; " << faults.size()
            << " faults (" << worker_kills << " worker kills, "
            << coordinator_kills << " daemon kills)" << std::endl;

  // Results the daemons refused (stale or foreign attempts), for the record.
  int refused = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir())) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("taskd.", 0) != 0 || entry.path().extension() != ".err") {
      continue;
    }
    for (const std::string& line : ReadLines(entry.path().string())) {
      if (line.find(" refused (") != std::string::npos) ++refused;
    }
  }
  std::cout << refused << " results refused by the daemons" << std::endl;

  // A clean stop, then the database.
  for (const std::string& name : names) {
    ASSERT_NO_FATAL_FAILURE(StopWorker(name, SIGINT));
  }
  ASSERT_TRUE(coordinator().Signal(SIGTERM).ok());
  absl::StatusOr<int> code = coordinator().WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << coordinator().LogsForDiagnosis();
  EXPECT_EQ(*code, 0) << coordinator().LogsForDiagnosis();
  absl::StatusOr<std::string> check = SqliteIntegrityCheck(db_path());
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(*check, "ok");
  std::cout << "chaos test took "
            << absl::ToInt64Milliseconds(absl::Now() - began) << " ms"
            << std::endl;
}

}  // namespace
}  // namespace vitte::task::integration
