#include "client/client.h"

#include <grpcpp/grpcpp.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "vitte/task/v1/task.grpc.pb.h"

namespace vitte::task {

namespace {

// Says which coordinator could not be reached, and why when TLS is why.
absl::Status AnnotateStatus(absl::Status status, const std::string& target,
                            const ClientTlsOptions& tls) {
  status = ExplainTlsFailure(std::move(status), tls);
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    return absl::Status(status.code(),
                        absl::StrCat("cannot reach the coordinator",
                                     target.empty() ? "" : " at ", target,
                                     ": ", status.message()));
  }
  return status;
}

// A TaskService method as the generated stub has it.
template <typename Request, typename Response>
using StubMethod = grpc::Status (v1::TaskService::Stub::*)(
    grpc::ClientContext*, const Request&, Response*);

}  // namespace

struct Client::Stubs {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::TaskService::Stub> tasks;

  // One unary call, bounded by `timeout`; errors name `target`.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(StubMethod<Request, Response> method,
                                const Request& request, absl::Duration timeout,
                                const std::string& target,
                                const ClientTlsOptions& tls) {
    Response response;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    absl::Status s = FromGrpcStatus(((*tasks).*method)(&ctx, request, &response));
    if (!s.ok()) return AnnotateStatus(s, target, tls);
    return response;
  }
};

std::unique_ptr<Client> Client::Connect(const std::string& target) {
  // Without TLS files there is nothing that can fail.
  return *Connect(target, ClientTlsOptions());
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(
    const std::string& target, const ClientTlsOptions& tls,
    const std::string& token) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   MakeChannel(target, tls, std::move(args), token));
  auto client = std::make_unique<Client>(std::move(channel), target);
  client->tls_ = tls;
  return client;
}

Client::Client(std::shared_ptr<grpc::Channel> channel, std::string target)
    : stubs_(std::make_unique<Stubs>()), target_(std::move(target)) {
  stubs_->tasks = v1::TaskService::NewStub(channel);
  stubs_->channel = std::move(channel);
}

Client::~Client() = default;

absl::Status Client::Annotate(absl::Status status) const {
  return AnnotateStatus(std::move(status), target_, tls_);
}

absl::StatusOr<v1::SubmitGraphResponse> Client::Submit(
    const v1::GraphSpec& graph, const std::string& request_id) {
  v1::SubmitGraphRequest request;
  *request.mutable_graph() = graph;
  request.set_request_id(request_id);
  return stubs_->Call(&v1::TaskService::Stub::SubmitGraph, request,
                      timeout_, target_, tls_);
}

absl::StatusOr<v1::Graph> Client::GetGraph(const std::string& graph_id,
                                           bool include_attempts) {
  v1::GetGraphRequest request;
  request.set_graph_id(graph_id);
  request.set_include_attempts(include_attempts);
  return stubs_->Call(&v1::TaskService::Stub::GetGraph, request,
                      timeout_, target_, tls_);
}

absl::StatusOr<v1::GraphSummary> Client::GetGraphSummary(
    const std::string& graph_id) {
  v1::GetGraphRequest request;
  request.set_graph_id(graph_id);
  request.set_summary_only(true);
  ASSIGN_OR_RETURN(v1::Graph response,
                   stubs_->Call(&v1::TaskService::Stub::GetGraph, request,
                                timeout_, target_, tls_));
  return response.summary();
}

absl::StatusOr<std::vector<v1::GraphSummary>> Client::ListGraphs(int limit) {
  v1::ListGraphsRequest request;
  request.set_limit(limit);
  ASSIGN_OR_RETURN(v1::ListGraphsResponse response,
                   stubs_->Call(&v1::TaskService::Stub::ListGraphs, request,
                                timeout_, target_, tls_));
  return std::vector<v1::GraphSummary>(response.graphs().begin(),
                                       response.graphs().end());
}

absl::StatusOr<int64_t> Client::Cancel(const std::string& graph_id,
                                       const std::vector<std::string>& task_ids) {
  v1::CancelGraphRequest request;
  request.set_graph_id(graph_id);
  for (const auto& id : task_ids) request.add_task_ids(id);
  ASSIGN_OR_RETURN(v1::CancelGraphResponse response,
                   stubs_->Call(&v1::TaskService::Stub::CancelGraph, request,
                                timeout_, target_, tls_));
  return response.cancelled();
}

absl::StatusOr<int64_t> Client::Retry(const std::string& graph_id) {
  v1::RetryGraphRequest request;
  request.set_graph_id(graph_id);
  ASSIGN_OR_RETURN(v1::RetryGraphResponse response,
                   stubs_->Call(&v1::TaskService::Stub::RetryGraph, request,
                                timeout_, target_, tls_));
  return response.retried();
}

absl::StatusOr<std::vector<v1::WorkerInfo>> Client::ListWorkers() {
  ASSIGN_OR_RETURN(v1::ListWorkersResponse response,
                   stubs_->Call(&v1::TaskService::Stub::ListWorkers, v1::ListWorkersRequest(),
                                timeout_, target_, tls_));
  return std::vector<v1::WorkerInfo>(response.workers().begin(),
                                     response.workers().end());
}

absl::StatusOr<v1::GetLogsResponse> Client::GetLogs(
    const v1::GetLogsRequest& request) {
  return stubs_->Call(&v1::TaskService::Stub::GetLogs, request,
                      timeout_, target_, tls_);
}

absl::StatusOr<v1::GraphState> Client::Watch(
    const std::string& graph_id,
    absl::FunctionRef<void(const v1::GraphEvent&)> on_event) {
  return Follow(graph_id, FollowOptions{}, [&](const v1::EventBatch& batch) {
    for (const v1::GraphEvent& e : batch.events()) on_event(e);
    return true;
  });
}

absl::StatusOr<v1::GraphState> Client::Follow(
    const std::string& graph_id, const FollowOptions& options,
    absl::FunctionRef<bool(const v1::EventBatch&)> on_batch) {
  uint64_t cursor = options.after_sequence;
  absl::Time last_progress = absl::Now();
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    v1::FollowEventsRequest request;
    request.set_graph_id(graph_id);
    request.set_after_sequence(cursor);
    // No deadline: a follow lasts as long as its graph. A coordinator that
    // is down fails the call at once (UNAVAILABLE), and the loop below
    // tries again until reconnect_for has passed without progress.
    grpc::ClientContext ctx;
    auto reader = stubs_->tasks->FollowEvents(&ctx, request);
    v1::EventBatch batch;
    bool stop = false;
    v1::GraphState final_state = v1::GRAPH_STATE_UNSPECIFIED;
    while (!stop && reader->Read(&batch)) {
      // Never back: a resume from an older cursor would repeat events, and
      // one from 0 would mean something else.
      cursor = std::max<uint64_t>(cursor, batch.cursor());
      last_progress = absl::Now();
      backoff = absl::Milliseconds(50);
      for (const v1::GraphEvent& e : batch.events()) {
        if (e.graph_finished() && e.graph_id() == graph_id) {
          final_state = e.graph_state();
        }
      }
      stop = !on_batch(batch);
    }
    if (stop) {
      ctx.TryCancel();
      (void)reader->Finish();
      return final_state;
    }
    absl::Status s = FromGrpcStatus(reader->Finish());
    if (s.ok()) {
      if (final_state != v1::GRAPH_STATE_UNSPECIFIED || graph_id.empty()) {
        return final_state;
      }
      // The stream ends only with its graph. Resumed after the graph's
      // end, it ends without repeating it: ask how it ended.
      ASSIGN_OR_RETURN(v1::GraphSummary summary, GetGraphSummary(graph_id));
      return summary.state();
    }
    // The coordinator went away (or found this follower too slow): resume
    // where the last batch left off, while it is worth waiting.
    const bool resumable = s.code() == absl::StatusCode::kUnavailable ||
                           s.code() == absl::StatusCode::kResourceExhausted;
    if (!resumable || absl::Now() - last_progress >= options.reconnect_for) {
      return Annotate(s);
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
}

absl::StatusOr<v1::GraphSpec> ParseGraphJson(absl::string_view json) {
  v1::GraphSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &spec, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid DAG JSON: ", status.message().as_string()));
  }
  return spec;
}

absl::StatusOr<v1::GraphSpec> ReadGraphFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open \"", path, "\""));
  }
  std::stringstream content;
  content << in.rdbuf();
  absl::StatusOr<v1::GraphSpec> spec = ParseGraphJson(content.str());
  if (!spec.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", spec.status().message()));
  }
  return spec;
}

}  // namespace vitte::task
