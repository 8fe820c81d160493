#include "client/cli_follow.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/cli_output.h"
#include "client/watch_view.h"

namespace vitte::task {
namespace {

int TerminalWidth(int fd) {
  winsize size{};
  if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col >= 20) {
    return size.ws_col;
  }
  return 80;
}

// Redraws a block of lines in place at the bottom of a terminal; lines
// printed "above" it stay.
class LiveBlock {
 public:
  explicit LiveBlock(std::ostream& out) : out_(out) {}
  void Draw(const std::vector<std::string>& above, const std::string& block) {
    std::string text;
    // Back to the first line of the previous block, and clear from there.
    if (lines_ > 0) absl::StrAppend(&text, "\x1b[", lines_, "F\x1b[J");
    for (const std::string& line : above) absl::StrAppend(&text, line, "\n");
    absl::StrAppend(&text, block);
    lines_ = static_cast<int>(std::count(block.begin(), block.end(), '\n'));
    out_ << text << std::flush;
  }

 private:
  std::ostream& out_;
  int lines_ = 0;
};

// The live view: events are taken in on the follow thread, the block is
// redrawn on this one a few times a second so that elapsed times move.
absl::StatusOr<v1::GraphState> FollowLive(Client& client,
                                          const std::string& graph_id,
                                          const Client::FollowOptions& options,
                                          std::ostream& out) {
  // All guarded by mu.
  absl::Mutex mu;
  WatchView view;
  std::vector<std::string> above;
  bool done = false;
  absl::StatusOr<v1::GraphState> state;
  std::thread follower([&] {
    absl::StatusOr<v1::GraphState> result =
        client.Follow(graph_id, options, [&](const v1::EventBatch& batch) {
          absl::MutexLock lock(&mu);
          for (std::string& line : view.Apply(batch)) {
            above.push_back(std::move(line));
          }
          return true;
        });
    absl::MutexLock lock(&mu);
    state = std::move(result);
    done = true;
  });
  LiveBlock block(out);
  const int width = TerminalWidth(STDOUT_FILENO);
  {
    absl::MutexLock lock(&mu);
    while (true) {
      const bool last = done;
      block.Draw(above, view.Render(absl::ToUnixMillis(absl::Now()), width));
      above.clear();
      if (last) break;
      mu.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(250));
    }
  }
  follower.join();
  return state;
}

}  // namespace

FollowStyle FollowStyleFor(int fd, bool json) {
  if (json) return FollowStyle::kJson;
  return isatty(fd) ? FollowStyle::kLive : FollowStyle::kLines;
}

int FollowGraph(Client& client, const std::string& graph_id, uint64_t after,
                FollowStyle style, std::ostream& out,
                absl::Duration reconnect_for) {
  Client::FollowOptions options;
  options.after_sequence = after;
  options.reconnect_for = reconnect_for;
  absl::StatusOr<v1::GraphState> state;
  if (style == FollowStyle::kLive && !graph_id.empty()) {
    state = FollowLive(client, graph_id, options, out);
  } else {
    state = client.Follow(graph_id, options, [&](const v1::EventBatch& batch) {
      if (style == FollowStyle::kJson) {
        out << ToJsonLine(batch) << std::flush;
        return true;
      }
      for (const v1::GraphEvent& e : batch.events()) {
        std::string line = ProgressLine(e);
        if (line.empty()) continue;
        out << (graph_id.empty() ? absl::StrCat("graph ", e.graph_id(), " ")
                                 : "")
            << line << "\n";
      }
      out << std::flush;
      return true;
    });
  }
  if (!state.ok()) return Fail(state.status());
  if (graph_id.empty()) return 0;
  if (style == FollowStyle::kJson) {
    return *state == v1::GRAPH_STATE_SUCCEEDED ? 0 : 1;
  }
  // The summary only: the whole graph may be a million tasks. The tasks
  // are read only to tell what failed.
  absl::StatusOr<v1::GraphSummary> summary = client.GetGraphSummary(graph_id);
  if (!summary.ok()) return Fail(summary.status());
  const v1::TaskCounts& c = summary->counts();
  out << "graph " << graph_id << " " << StateName(*state) << ": "
      << c.succeeded() << "/" << c.total() << " tasks succeeded\n";
  if (*state == v1::GRAPH_STATE_SUCCEEDED) return 0;
  absl::StatusOr<v1::Graph> graph = client.GetGraph(graph_id);
  if (!graph.ok()) return Fail(graph.status());
  PrintFailures(out, *graph);
  return 1;
}

}  // namespace vitte::task
