// What `vitte-task watch` shows on a terminal, redrawn in place: a progress
// bar with the counts per state, the running tasks with their worker and
// how long they have run; failures are printed once, as they happen, above
// it. Pure: fed events and a time, returns text (tested without a TTY).
#ifndef VITTE_CLIENT_WATCH_VIEW_H_
#define VITTE_CLIENT_WATCH_VIEW_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "vitte/task/v1/task.pb.h"

namespace vitte::task {

class WatchView {
 public:
  // Takes in a batch of events of one graph. Returns the lines to print
  // once, above the live block: failures and lost attempts, in order, each
  // attempt's once (the first, compacted batch tells the failures so far).
  std::vector<std::string> Apply(const v1::EventBatch& batch);

  // The live block at `now_ms` (Unix milliseconds), `width` columns wide,
  // listing up to `max_running` running tasks, longest-running first.
  std::string Render(int64_t now_ms, int width = 80, int max_running = 8) const;

  bool finished() const { return finished_; }

 private:
  struct Running {
    std::string worker;
    int64_t since_ms = 0;
  };
  std::string graph_id_;
  std::string graph_name_;
  v1::GraphState state_ = v1::GRAPH_STATE_RUNNING;
  v1::TaskCounts counts_;
  std::map<std::string, Running> running_;  // by task id
  // Attempts whose end was told (task id, attempt id).
  std::set<std::pair<std::string, uint64_t>> told_;
  bool finished_ = false;
};

}  // namespace vitte::task

#endif  // VITTE_CLIENT_WATCH_VIEW_H_
