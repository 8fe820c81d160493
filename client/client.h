// C++ client of a vitte-taskd: submit graphs, follow them, cancel them.
// Speaks the public proto (vitte/task/v1/task.proto) and returns its
// messages; every failure is an absl::Status with the server's code and
// message (UNAVAILABLE when the coordinator cannot be reached).
#ifndef VITTE_CLIENT_CLIENT_H_
#define VITTE_CLIENT_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/tls.h"
#include "vitte/task/v1/task.pb.h"

namespace grpc {
class Channel;
}

namespace vitte::task {

// Thread-safe.
class Client {
 public:
  // A client of the coordinator at `target` ("host:port"), in plain text.
  static std::unique_ptr<Client> Connect(const std::string& target);
  // The same over TLS when tls.enabled(). Fails (see MakeChannel in
  // common/tls.h) when the TLS files cannot be used; a certificate that
  // does not verify fails the first call instead, with UNAVAILABLE
  // saying that the TLS handshake failed.
  // With a `token`, every call presents it (a daemon run with --auth
  // tokens requires one; see common/bearer_token.h).
  static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const std::string& target, const ClientTlsOptions& tls,
      const std::string& token = "");
  explicit Client(std::shared_ptr<grpc::Channel> channel,
                  std::string target = "");
  ~Client();

  // Deadline of each unary call.
  void set_timeout(absl::Duration timeout) { timeout_ = timeout; }

  absl::StatusOr<v1::SubmitGraphResponse> Submit(const v1::GraphSpec& graph,
                                                 const std::string& request_id = "");
  absl::StatusOr<v1::Graph> GetGraph(const std::string& graph_id,
                                     bool include_attempts = false);
  // The graph's state and counts, without its tasks.
  absl::StatusOr<v1::GraphSummary> GetGraphSummary(const std::string& graph_id);
  absl::StatusOr<std::vector<v1::GraphSummary>> ListGraphs(int limit = 100);
  // Returns how many tasks were cancelled.
  absl::StatusOr<int64_t> Cancel(const std::string& graph_id,
                                 const std::vector<std::string>& task_ids = {});
  // Runs the failed, skipped and cancelled tasks of a finished graph again;
  // returns how many.
  absl::StatusOr<int64_t> Retry(const std::string& graph_id);
  absl::StatusOr<std::vector<v1::WorkerInfo>> ListWorkers();
  // One attempt's output from request.cursor on (see v1.GetLogsRequest).
  // NOT_FOUND names an unknown graph, task or attempt; FAILED_PRECONDITION
  // when the task has not started yet.
  absl::StatusOr<v1::GetLogsResponse> GetLogs(const v1::GetLogsRequest& request);

  // Calls `on_event` for each event of the graph (first one per task, then
  // every change) until the graph finishes; returns its final state. Rides
  // out a broken stream or a coordinator restart (see Follow).
  absl::StatusOr<v1::GraphState> Watch(
      const std::string& graph_id,
      absl::FunctionRef<void(const v1::GraphEvent&)> on_event);

  struct FollowOptions {
    // Resume after this sequence number (see FollowEventsRequest).
    uint64_t after_sequence = 0;
    // A broken stream is resumed from the last cursor received, again and
    // again, as long as the coordinator comes back within this time.
    absl::Duration reconnect_for = absl::Seconds(60);
  };
  // Follows the events of `graph_id` ("" = every graph): calls `on_batch`
  // for each batch until the graph finishes (returns its final state),
  // `on_batch` returns false (returns GRAPH_STATE_UNSPECIFIED), or an
  // error that resuming cannot cure. Nothing is missed or repeated across
  // reconnections: each resumes after the last cursor.
  absl::StatusOr<v1::GraphState> Follow(
      const std::string& graph_id, const FollowOptions& options,
      absl::FunctionRef<bool(const v1::EventBatch&)> on_batch);

 private:
  struct Stubs;
  absl::Status Annotate(absl::Status status) const;

  std::unique_ptr<Stubs> stubs_;
  std::string target_;
  // How the channel was made (by Connect), to explain TLS failures.
  ClientTlsOptions tls_;
  absl::Duration timeout_ = absl::Seconds(60);
};

// Parses a DAG file (the JSON form of v1::GraphSpec). INVALID_ARGUMENT
// with protobuf's explanation for malformed JSON or unknown fields.
absl::StatusOr<v1::GraphSpec> ParseGraphJson(absl::string_view json);
// Reads and parses a DAG file; the error names the file.
absl::StatusOr<v1::GraphSpec> ReadGraphFile(const std::string& path);

}  // namespace vitte::task

#endif  // VITTE_CLIENT_CLIENT_H_
