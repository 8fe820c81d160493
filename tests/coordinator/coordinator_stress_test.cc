// Coordinator tests that drive many tasks at once: reports from several
// threads, and random graphs with random failures and worker churn.
#include <bitset>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "coordinator/coordinator.h"
#include "coordinator/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/coordinator/test_util.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing_util::ExpectInSequence;
using testing_util::CoordinatorTest;
using testing_util::Describe;
using testing_util::Failed;
using testing_util::FakeConnection;
using testing_util::FakeWatcher;
using testing_util::MakeGraph;
using testing_util::MakeTask;
using testing_util::MostlyIndependentTasks;
using testing_util::Succeeded;
using testing_util::TaskIds;
using testing_util::Worker;

// --- Concurrency ---

// Workers report from their own threads at once. Deliveries must still
// reach the watcher in commit order, and every task must run exactly once.
TEST_F(CoordinatorTest, ConcurrentReportsKeepEventOrder) {
  constexpr int kTasks = 300;
  constexpr int kWorkers = 4;
  GraphId id = Submit(MakeGraph("parallel", MostlyIndependentTasks(kTasks)));
  auto watcher = std::make_shared<FakeWatcher>();
  ASSERT_OK(coord_->Watch(id, watcher));

  std::vector<Worker> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(Connect(absl::StrCat("w", i), 2));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::vector<std::thread> threads;
  std::vector<int> fenced(kWorkers, 0);
  std::vector<std::vector<std::string>> ran(kWorkers);
  for (int i = 0; i < kWorkers; ++i) {
    threads.emplace_back([&, i] {
      while (!watcher->finished() && absl::Now() < deadline) {
        for (const Assignment& a :
             workers[i].conn->WaitAndTake(absl::Milliseconds(50))) {
          ran[i].push_back(a.task_id);
          fenced[i] += coord_->Report(workers[i].session, {Succeeded(a)});
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();

  ASSERT_TRUE(watcher->finished()) << "graph did not finish in time";
  std::multiset<std::string> all;
  for (int i = 0; i < kWorkers; ++i) {
    EXPECT_EQ(fenced[i], 0);
    all.insert(ran[i].begin(), ran[i].end());
    std::vector<std::string> calls = workers[i].conn->calls();
    ASSERT_FALSE(calls.empty());
    EXPECT_EQ(calls.front(), "registered");
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(),
            static_cast<size_t>(kTasks));
  ExpectInSequence(*watcher);
  EXPECT_EQ(View(id).record.state, GraphState::kSucceeded);
}

// --- Random graphs ---

// Many random DAGs, run by three workers that report results chosen per
// task in advance (a task's failures do not depend on which worker ran it),
// with workers restarting, losing their lease, or dropping their stream and
// coming back with what they hold along the way; the model follows which
// attempts are lost. Checks that
// every graph finishes; no task is dispatched before all its deps
// succeeded or after an ancestor failed for good; no task is dispatched
// twice at once or succeeds twice; lost attempts are counted (and bounded)
// apart from failures; and the final states match the model.
TEST_F(CoordinatorTest, RandomGraphsRespectDependenciesAndFinish) {
  // Speed: this test commits thousands of times; durability is not its
  // subject.
  store_options_.synchronous_full = false;
  coord_.reset();
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(OpenStore());
  // A low bound on lost attempts, so that some tasks reach it.
  options_.max_lost_attempts = 2;
  ASSERT_NO_FATAL_FAILURE(Start());

  constexpr int kGraphs = 20;
  constexpr int kTasks = 100;
  std::mt19937 rng(0xC0FFEE);

  struct TaskModel {
    std::vector<int> deps;
    std::bitset<kTasks> ancestors;
    int max_attempts = 1;
    int failures_before_success = 0;  // >= max_attempts: fails for good
    int failures = 0;
    int lost = 0;
    int successes = 0;
    bool running = false;
    bool failed = false;
    bool poisoned = false;  // failed for good by losing its worker too often
  };
  struct GraphModel {
    GraphId id = 0;
    std::vector<TaskModel> tasks;
    std::map<std::string, int> index;
    std::shared_ptr<FakeWatcher> watcher;
  };
  std::vector<GraphModel> graphs(kGraphs);
  absl::flat_hash_map<GraphId, int> graph_index;

  std::vector<Worker> workers;
  const std::vector<int> slots = {1, 3, 8};
  for (int i = 0; i < 3; ++i) {
    workers.push_back(Connect(absl::StrCat("w", i), slots[i]));
  }

  for (int g = 0; g < kGraphs; ++g) {
    GraphModel& m = graphs[g];
    m.tasks.resize(kTasks);
    std::vector<TaskSpec> specs;
    // Even graphs are reliable (retries hide rare failures); odd graphs fail.
    const bool flaky = g % 2 == 1;
    for (int t = 0; t < kTasks; ++t) {
      TaskModel& tm = m.tasks[t];
      std::vector<std::string> deps;
      if (t > 0) {
        for (int k = static_cast<int>(rng() % 4); k > 0; --k) {
          int d = static_cast<int>(rng() % t);
          deps.push_back(absl::StrCat("t", d));
          tm.deps.push_back(d);
          tm.ancestors.set(d);
          tm.ancestors |= m.tasks[d].ancestors;
        }
      }
      tm.max_attempts = flaky ? 1 + static_cast<int>(rng() % 3) : 3;
      std::uniform_real_distribution<double> u(0, 1);
      const double p_fail = flaky ? 0.12 : 0.05;
      while (tm.failures_before_success < 4 && u(rng) < p_fail) {
        ++tm.failures_before_success;
      }
      TaskSpec spec = MakeTask(absl::StrCat("t", t), deps,
                               static_cast<int32_t>(rng() % 3));
      spec.max_attempts = tm.max_attempts;
      m.index[spec.id] = t;
      specs.push_back(std::move(spec));
    }
    m.id = Submit(MakeGraph(absl::StrCat("random-", g), specs));
    ASSERT_NE(m.id, 0);
    graph_index[m.id] = g;
    m.watcher = std::make_shared<FakeWatcher>();
    ASSERT_OK(coord_->Watch(m.id, m.watcher));
  }

  // Assignments a worker holds and has not yet reported.
  std::vector<std::vector<Assignment>> held(workers.size());
  // Checks an assignment as it arrives and notes its task as running.
  auto accept = [&](const Assignment& a) {
    auto gi = graph_index.find(a.graph_id);
    ASSERT_TRUE(gi != graph_index.end());
    GraphModel& m = graphs[gi->second];
    auto ti = m.index.find(a.task_id);
    ASSERT_TRUE(ti != m.index.end()) << a.task_id;
    TaskModel& tm = m.tasks[ti->second];
    for (int d : tm.deps) {
      ASSERT_EQ(m.tasks[d].successes, 1)
          << "graph " << a.graph_id << " " << a.task_id
          << " dispatched before dep t" << d << " succeeded";
    }
    for (int anc = 0; anc < kTasks; ++anc) {
      if (tm.ancestors.test(anc)) {
        ASSERT_FALSE(m.tasks[anc].failed)
            << a.task_id << " dispatched after ancestor t" << anc << " failed";
      }
    }
    ASSERT_EQ(tm.successes, 0) << a.task_id << " dispatched after succeeding";
    ASSERT_FALSE(tm.failed) << a.task_id << " dispatched after failing";
    ASSERT_FALSE(tm.running) << a.task_id << " dispatched twice at once";
    EXPECT_THAT(a.command, ElementsAre("echo", a.task_id));
    tm.running = true;
  };
  auto collect = [&](size_t w) {
    for (Assignment& a : workers[w].conn->Take()) {
      accept(a);
      held[w].push_back(std::move(a));
    }
  };

  int iterations = 0;
  auto all_finished = [&] {
    for (const GraphModel& m : graphs) {
      if (!m.watcher->finished()) return false;
    }
    return true;
  };
  for (; iterations < 20000 && !all_finished(); ++iterations) {
    for (size_t w = 0; w < workers.size(); ++w) {
      collect(w);
      if (testing::Test::HasFatalFailure()) return;
    }
    // Now and then (twice in a row, so that an attempt re-queued by the
    // first may be lost again) something happens to a worker. Either it is
    // gone and what it held is lost and must run again elsewhere (it
    // restarted, or it went silent past its lease), or its stream broke and
    // it comes back with what it holds, which stays its own.
    if (iterations % 37 >= 35) {
      const size_t w = static_cast<size_t>(rng() % workers.size());
      const SessionId old_session = workers[w].session;
      std::shared_ptr<FakeConnection> old_conn = workers[w].conn;
      const int what = static_cast<int>(rng() % 4);
      if (what == 3) {
        coord_->CloseSession(old_session);
        std::vector<AttemptId> ids;
        for (const Assignment& a : held[w]) ids.push_back(a.attempt_id);
        workers[w] = Reconnect(absl::StrCat("w", w), slots[w], ids);
        EXPECT_THAT(workers[w].conn->cancels(), IsEmpty())
            << "attempts still held must stay valid";
        continue;
      }
      auto mark_lost = [&](const Assignment& a) {
        GraphModel& m = graphs[graph_index[a.graph_id]];
        TaskModel& tm = m.tasks[m.index[a.task_id]];
        tm.running = false;
        if (++tm.lost >= options_.max_lost_attempts) {
          tm.failed = true;
          tm.poisoned = true;
        }
      };
      std::vector<Assignment> lost = std::move(held[w]);
      held[w].clear();
      if (what == 2) {
        // Silent past its lease while the others heartbeat.
        std::vector<Worker*> alive;
        for (size_t o = 0; o < workers.size(); ++o) {
          if (o != w) alive.push_back(&workers[o]);
        }
        AdvanceAndTick(options_.lease_timeout + absl::Seconds(1), alive);
        EXPECT_TRUE(old_conn->closed()) << "a lost session's stream is closed";
        EXPECT_FALSE(coord_->Heartbeat(old_session));
      } else if (what == 1) {
        coord_->CloseSession(old_session);
      }
      // A worker runs at most one attempt of a task: the order of the
      // losses does not matter to the model.
      for (const Assignment& a : lost) mark_lost(a);
      // Restarted (or back after its lease): it holds nothing.
      workers[w] = Connect(absl::StrCat("w", w), slots[w]);
      EXPECT_THAT(old_conn->Take(), IsEmpty());
      // A namesake still connected is told to stop.
      if (what == 0) {
        EXPECT_TRUE(old_conn->closed());
      }
      if (!lost.empty()) {
        std::vector<AttemptOutcome> late;
        for (const Assignment& a : lost) late.push_back(Succeeded(a));
        EXPECT_EQ(coord_->Report(old_session, late),
                  static_cast<int>(lost.size()))
            << "results of a dropped session must be fenced";
      }
      continue;
    }
    // Each worker reports a random part of what it holds, in one batch.
    for (size_t w = 0; w < workers.size(); ++w) {
      std::vector<AttemptOutcome> batch;
      std::vector<Assignment> keep;
      for (Assignment& a : held[w]) {
        if (rng() % 3 == 0) {
          keep.push_back(std::move(a));
          continue;
        }
        GraphModel& m = graphs[graph_index[a.graph_id]];
        TaskModel& tm = m.tasks[m.index[a.task_id]];
        tm.running = false;
        if (tm.failures < tm.failures_before_success) {
          ++tm.failures;
          if (tm.failures >= tm.max_attempts) tm.failed = true;
          batch.push_back(Failed(a, 1));
        } else {
          ++tm.successes;
          batch.push_back(Succeeded(a));
        }
      }
      held[w] = std::move(keep);
      if (!batch.empty()) {
        EXPECT_EQ(coord_->Report(workers[w].session, batch), 0);
      }
    }
  }
  ASSERT_TRUE(all_finished()) << "not finished after " << iterations
                              << " iterations";
  for (const auto& h : held) EXPECT_THAT(h, IsEmpty());

  int succeeded_graphs = 0, failed_graphs = 0, total_lost = 0,
      poisoned_tasks = 0;
  for (const GraphModel& m : graphs) {
    GraphView v = View(m.id);
    ASSERT_EQ(v.tasks.size(), static_cast<size_t>(kTasks));
    bool all_ok = true;
    for (int t = 0; t < kTasks; ++t) {
      const TaskModel& tm = m.tasks[t];
      const TaskStatus& s = v.tasks[t];
      EXPECT_LE(tm.successes, 1);
      EXPECT_EQ(s.lost, tm.lost) << "graph " << m.id << " t" << t;
      EXPECT_EQ(s.failures, tm.failures) << "graph " << m.id << " t" << t;
      int lost_attempts = 0;
      for (const AttemptRecord& a : v.attempts[t]) {
        lost_attempts += a.state == AttemptState::kLost;
      }
      EXPECT_EQ(lost_attempts, tm.lost) << "graph " << m.id << " t" << t;
      total_lost += tm.lost;
      int succeeded_attempts = 0;
      for (const AttemptRecord& a : v.attempts[t]) {
        succeeded_attempts += a.state == AttemptState::kSucceeded;
        EXPECT_NE(a.state, AttemptState::kRunning);
      }
      EXPECT_LE(succeeded_attempts, 1);
      if (tm.successes == 1) {
        EXPECT_EQ(s.state, TaskState::kSucceeded) << "graph " << m.id << " t" << t;
      } else if (tm.failed) {
        EXPECT_EQ(s.state, TaskState::kFailed) << "graph " << m.id << " t" << t;
        if (tm.poisoned) {
          EXPECT_EQ(s.lost, options_.max_lost_attempts);
          ++poisoned_tasks;
        } else {
          EXPECT_EQ(s.failures, tm.max_attempts);
        }
      } else {
        EXPECT_EQ(s.state, TaskState::kSkipped) << "graph " << m.id << " t" << t;
        ASSERT_GE(s.skipped_because, 0);
        EXPECT_TRUE(tm.ancestors.test(s.skipped_because));
        EXPECT_TRUE(m.tasks[s.skipped_because].failed);
      }
      all_ok &= s.state == TaskState::kSucceeded;
    }
    EXPECT_EQ(v.counts.total(), kTasks);
    EXPECT_EQ(v.record.state,
              all_ok ? GraphState::kSucceeded : GraphState::kFailed);
    (all_ok ? succeeded_graphs : failed_graphs)++;

    // The watcher saw increasing sequence numbers and one final event.
    ExpectInSequence(*m.watcher);
    std::vector<TaskEvent> events = m.watcher->events();
    int finals = 0;
    for (const TaskEvent& e : events) finals += e.graph_finished;
    EXPECT_EQ(finals, 1);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().graph_state, v.record.state);
  }
  // The generator must exercise both outcomes.
  EXPECT_GT(succeeded_graphs, 0);
  EXPECT_GT(failed_graphs, 0);
  EXPECT_GT(total_lost, 0);
  // How many tasks reach the bound depends on which worker got what, so it
  // is reported, not required (TaskLosingItsWorkerTooOftenFailsAsPoison
  // covers the bound itself); each one was checked against the model above.
  RecordProperty("poisoned_tasks", poisoned_tasks);
  RecordProperty("lost_attempts", total_lost);
  for (const WorkerView& wv : coord_->ListWorkers()) EXPECT_EQ(wv.running, 0);
}

}  // namespace
}  // namespace vitte::task
