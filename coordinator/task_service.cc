#include "coordinator/task_service.h"

#include <malloc.h>

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "coordinator/proto_convert.h"
#include "coordinator/submit_parser.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace vitte::task {
namespace {

constexpr absl::string_view kService = v1::TaskService::service_full_name();

// Ends a unary call of `method`, counting it.
grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx,
                               const absl::Status& status, RpcMetrics& rpc,
                               absl::string_view method) {
  grpc::Status answer = ToGrpcStatus(status);
  rpc.Handled(kService, method, answer.error_code());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(answer));
  return reactor;
}

// Parses a raw request. INVALID_ARGUMENT names the message type when the
// bytes do not parse.
template <typename Request>
absl::Status ParseRequest(const grpc::ByteBuffer& raw, Request& request) {
  grpc::ByteBuffer copy(raw);  // Deserialize consumes its input
  if (!grpc::SerializationTraits<Request>::Deserialize(&copy, &request).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed ", Request::descriptor()->full_name(),
                     ": the request does not parse"));
  }
  return absl::OkStatus();
}

template <typename Response>
absl::Status Serialize(const Response& response, grpc::ByteBuffer& raw) {
  bool own_buffer = false;
  return FromGrpcStatus(grpc::SerializationTraits<Response>::Serialize(
      response, &raw, &own_buffer));
}

// Parses the request, runs `handler`, serialises its answer.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* Unary(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response, TaskServiceImpl* service,
    absl::Status (TaskServiceImpl::*handler)(const Request&, Response&),
    RpcMetrics& rpc, absl::string_view method) {
  Request request;
  if (absl::Status parsed = ParseRequest(*raw_request, request); !parsed.ok()) {
    return Done(ctx, parsed, rpc, method);
  }
  Response response;
  absl::Status status = (service->*handler)(request, response);
  if (status.ok()) status = Serialize(response, *raw_response);
  return Done(ctx, status, rpc, method);
}

// Streams a graph's events to one client, one write in flight at a time,
// and finishes after the event that ends the graph. Deletes itself in
// OnDone. Events go out as bytes: the method is registered raw, like the
// unary ones, so that a malformed request gets a clear status.
class WatchReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  WatchReactor(Coordinator& coordinator, RpcMetrics& rpc,
               absl::StatusOr<GraphId> graph_id)
      : coordinator_(coordinator),
        rpc_(rpc),
        link_(std::make_shared<Link>(this)) {
    absl::StatusOr<uint64_t> watch =
        graph_id.ok() ? coordinator_.Watch(*graph_id, link_) : graph_id.status();
    absl::MutexLock lock(&mu_);
    if (!watch.ok()) {
      FinishLocked(ToGrpcStatus(watch.status()));
      return;
    }
    watch_id_ = *watch;
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    queue_.pop_front();
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    link_->Detach();
    uint64_t watch_id;
    {
      absl::MutexLock lock(&mu_);
      watch_id = watch_id_;
    }
    if (watch_id != 0) coordinator_.Unwatch(watch_id);
    delete this;
  }

 private:
  // The coordinator's handle on this stream; outlives the reactor.
  class Link : public GraphWatcher {
   public:
    explicit Link(WatchReactor* reactor) : reactor_(reactor) {}
    void OnEvents(std::vector<TaskEvent> events) override {
      absl::MutexLock lock(&mu_);
      if (reactor_ != nullptr) reactor_->Push(std::move(events));
    }
    void Detach() {
      absl::MutexLock lock(&mu_);
      reactor_ = nullptr;
    }

   private:
    absl::Mutex mu_;
    WatchReactor* reactor_ ABSL_GUARDED_BY(mu_);
  };

  // Called on the coordinator's commit thread: only queues. Events are
  // serialised as they are written, on gRPC's threads, so that a big
  // graph's snapshot does not hold up commits.
  void Push(std::vector<TaskEvent> events) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    for (TaskEvent& e : events) queue_.push_back(std::move(e));
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (queue_.empty()) {
      if (graph_finished_) FinishLocked(grpc::Status::OK);
      return;
    }
    v1::GraphEvent event;
    ToProto(queue_.front(), event);
    if (event.graph_finished()) graph_finished_ = true;
    bool own_buffer = false;
    writing_bytes_.Clear();  // the previous write is done; Serialize wants it empty
    (void)grpc::SerializationTraits<v1::GraphEvent>::Serialize(
        event, &writing_bytes_, &own_buffer);  // cannot fail: valid message
    writing_ = true;
    StartWrite(&writing_bytes_);
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    rpc_.Handled(kService, "WatchGraph", status.error_code());
    Finish(std::move(status));
  }

  Coordinator& coordinator_;
  RpcMetrics& rpc_;
  const std::shared_ptr<Link> link_;
  absl::Mutex mu_;
  // queue_.front() is being written, as writing_bytes_, while writing_ is
  // set.
  std::deque<TaskEvent> queue_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer writing_bytes_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool graph_finished_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t watch_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

absl::Status TaskServiceImpl::Submit(const grpc::ByteBuffer& raw,
                                     v1::SubmitGraphResponse& response) {
  absl::StatusOr<SubmitRequest> request;
  {
    grpc::ByteBuffer copy(raw);  // shares the slices; the reader consumes it
    grpc::ProtoBufferReader reader(&copy);
    request = ParseSubmitRequest(reader, coordinator_.options().limits);
  }
  if (!request.ok()) return request.status();
  const size_t tasks = request->spec.tasks.size();
  absl::StatusOr<SubmitResult> submitted = coordinator_.Submit(
      std::move(request->spec), std::move(request->request_id));
  // Accepting a big graph frees hundreds of megabytes of parse and
  // validation buffers; hand them back to the system rather than keep the
  // peak resident for the life of the daemon.
  if (tasks >= 100'000) malloc_trim(0);
  ASSIGN_OR_RETURN(SubmitResult result, std::move(submitted));
  response.set_graph_id(FormatGraphId(result.graph_id));
  response.set_created(result.created);
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::Get(const v1::GetGraphRequest& request,
                                  v1::Graph& response) {
  ASSIGN_OR_RETURN(GraphId id, ParseGraphId(request.graph_id()));
  ASSIGN_OR_RETURN(GraphView view,
                   coordinator_.GetGraph(id, request.include_attempts()));
  ToProto(view, response);
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::List(const v1::ListGraphsRequest& request,
                                   v1::ListGraphsResponse& response) {
  int limit = request.limit() <= 0 ? 100 : std::min(request.limit(), 10'000);
  ASSIGN_OR_RETURN(auto graphs, coordinator_.ListGraphs(limit));
  for (const GraphSummaryView& g : graphs) ToProto(g, *response.add_graphs());
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::Cancel(const v1::CancelGraphRequest& request,
                                     v1::CancelGraphResponse& response) {
  ASSIGN_OR_RETURN(GraphId id, ParseGraphId(request.graph_id()));
  ASSIGN_OR_RETURN(int64_t cancelled,
                   coordinator_.Cancel(id, {request.task_ids().begin(),
                                            request.task_ids().end()}));
  response.set_cancelled(cancelled);
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::Retry(const v1::RetryGraphRequest& request,
                                    v1::RetryGraphResponse& response) {
  ASSIGN_OR_RETURN(GraphId id, ParseGraphId(request.graph_id()));
  ASSIGN_OR_RETURN(int64_t retried, coordinator_.Retry(id));
  response.set_retried(retried);
  return absl::OkStatus();
}

absl::Status TaskServiceImpl::Workers(const v1::ListWorkersRequest& /*request*/,
                                      v1::ListWorkersResponse& response) {
  for (const WorkerView& w : coordinator_.ListWorkers()) {
    ToProto(w, *response.add_workers());
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* TaskServiceImpl::SubmitGraph(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  v1::SubmitGraphResponse answer;
  absl::Status status = Submit(*request, answer);
  if (status.ok()) status = Serialize(answer, *response);
  return Done(ctx, status, rpc_, "SubmitGraph");
}
grpc::ServerUnaryReactor* TaskServiceImpl::GetGraph(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::Get, rpc_,
               "GetGraph");
}
grpc::ServerUnaryReactor* TaskServiceImpl::ListGraphs(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::List, rpc_,
               "ListGraphs");
}
grpc::ServerUnaryReactor* TaskServiceImpl::CancelGraph(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::Cancel, rpc_,
               "CancelGraph");
}
grpc::ServerUnaryReactor* TaskServiceImpl::RetryGraph(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::Retry, rpc_,
               "RetryGraph");
}
grpc::ServerUnaryReactor* TaskServiceImpl::ListWorkers(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response) {
  return Unary(ctx, request, response, this, &TaskServiceImpl::Workers, rpc_,
               "ListWorkers");
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::WatchGraph(
    grpc::CallbackServerContext* /*ctx*/, const Raw* raw_request) {
  v1::WatchGraphRequest request;
  if (absl::Status parsed = ParseRequest(*raw_request, request); !parsed.ok()) {
    return new WatchReactor(coordinator_, rpc_, parsed);
  }
  return new WatchReactor(coordinator_, rpc_, ParseGraphId(request.graph_id()));
}

}  // namespace vitte::task
