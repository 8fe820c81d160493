#include "client/watch_view.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

v1::GraphEvent* Add(v1::EventBatch& batch, const std::string& task,
                    v1::TaskState state, int64_t time_ms) {
  v1::GraphEvent* e = batch.add_events();
  e->set_graph_id("7");
  e->set_task_id(task);
  e->set_task_state(state);
  e->set_time_ms(time_ms);
  e->set_graph_state(v1::GRAPH_STATE_RUNNING);
  return e;
}

TEST(WatchViewTest, ShowsProgressRunningTasksAndFailuresOnce) {
  WatchView view;
  v1::EventBatch first;
  first.set_compacted(true);
  v1::GraphEvent* g = first.add_events();
  g->set_graph_id("7");
  g->set_graph_name("release");
  g->set_graph_state(v1::GRAPH_STATE_RUNNING);
  v1::GraphEvent* a = Add(first, "compile-a", v1::TASK_STATE_RUNNING, 1'000);
  a->set_worker("build-1");
  // A failure from before the view started is told once.
  v1::GraphEvent* old = Add(first, "old", v1::TASK_STATE_FAILED, 1'000);
  old->set_attempt_id(5);
  old->set_exit_code(1);
  old->mutable_counts()->set_total(4);
  old->mutable_counts()->set_failed(1);
  old->mutable_counts()->set_running(1);
  EXPECT_THAT(view.Apply(first), ElementsAre("FAILED old (exit code 1)"));
  // Restated by a compacted batch after a reconnect: not again.
  EXPECT_THAT(view.Apply(first), IsEmpty());

  v1::EventBatch next;
  v1::GraphEvent* b = Add(next, "compile-b", v1::TASK_STATE_FAILED, 2'000);
  b->set_exit_code(2);
  b->set_attempt_id(6);
  b->set_worker("build-2");
  b->mutable_counts()->set_total(4);
  b->mutable_counts()->set_failed(2);
  b->mutable_counts()->set_running(1);
  EXPECT_THAT(view.Apply(next),
              ElementsAre("FAILED compile-b (exit code 2, on build-2)"));

  std::string block = view.Render(/*now_ms=*/13'400, /*width=*/40);
  EXPECT_THAT(block, HasSubstr("graph 7 \"release\": running"));
  // Failed tasks are done: half the bar, 40 columns in all.
  EXPECT_THAT(block, HasSubstr("[#################.................] 2/4\n"));
  EXPECT_THAT(block, HasSubstr("failed 2"));
  EXPECT_THAT(block, HasSubstr("compile-a  on build-1  12.4s"));
  EXPECT_FALSE(view.finished());
}

TEST(WatchViewTest, ListsTheLongestRunningFirstAndCountsTheRest) {
  WatchView view;
  v1::EventBatch batch;
  for (int i = 0; i < 5; ++i) {
    Add(batch, "t" + std::to_string(i), v1::TASK_STATE_RUNNING, 1'000 * (5 - i))
        ->set_worker("w");
  }
  view.Apply(batch);
  std::string block = view.Render(10'000, 80, /*max_running=*/2);
  EXPECT_THAT(block, HasSubstr("t4  on w  9.0s"));
  EXPECT_THAT(block, HasSubstr("t3  on w  8.0s"));
  EXPECT_THAT(block, Not(HasSubstr("t2 ")));
  EXPECT_THAT(block, HasSubstr("... and 3 more"));

  v1::EventBatch end;
  v1::GraphEvent* e = end.add_events();
  e->set_graph_finished(true);
  e->set_graph_state(v1::GRAPH_STATE_SUCCEEDED);
  view.Apply(end);
  EXPECT_TRUE(view.finished());
  EXPECT_THAT(view.Render(10'000), Not(HasSubstr(" on w ")));
  EXPECT_THAT(view.Render(10'000), HasSubstr("succeeded"));
}

}  // namespace
}  // namespace vitte::task
