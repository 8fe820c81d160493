#include "coordinator/task_service.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "coordinator/proto_convert.h"

namespace vitte::task {
namespace {

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx,
                               const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Streams a graph's events to one client, one write in flight at a time,
// and finishes after the event that ends the graph. Deletes itself in
// OnDone.
class WatchReactor : public grpc::ServerWriteReactor<v1::GraphEvent> {
 public:
  WatchReactor(Coordinator& coordinator, absl::StatusOr<GraphId> graph_id)
      : coordinator_(coordinator), link_(std::make_shared<Link>(this)) {
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

  void Push(std::vector<TaskEvent> events) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    for (const TaskEvent& e : events) ToProto(e, queue_.emplace_back());
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (queue_.empty()) {
      if (graph_finished_) FinishLocked(grpc::Status::OK);
      return;
    }
    if (queue_.front().graph_finished()) graph_finished_ = true;
    writing_ = true;
    StartWrite(&queue_.front());
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  Coordinator& coordinator_;
  const std::shared_ptr<Link> link_;
  absl::Mutex mu_;
  // queue_.front() is being written while writing_ is set.
  std::deque<v1::GraphEvent> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool graph_finished_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t watch_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

grpc::ServerUnaryReactor* TaskServiceImpl::SubmitGraph(
    grpc::CallbackServerContext* ctx, const v1::SubmitGraphRequest* request,
    v1::SubmitGraphResponse* response) {
  if (absl::Status size = CheckGraphSize(request->graph(),
                                         coordinator_.options().limits);
      !size.ok()) {
    return Done(ctx, size);
  }
  absl::StatusOr<SubmitResult> result =
      coordinator_.Submit(FromProto(request->graph()), request->request_id());
  if (result.ok()) {
    response->set_graph_id(FormatGraphId(result->graph_id));
    response->set_created(result->created);
  }
  return Done(ctx, result.status());
}

grpc::ServerUnaryReactor* TaskServiceImpl::GetGraph(
    grpc::CallbackServerContext* ctx, const v1::GetGraphRequest* request,
    v1::Graph* response) {
  absl::StatusOr<GraphId> id = ParseGraphId(request->graph_id());
  if (!id.ok()) return Done(ctx, id.status());
  absl::StatusOr<GraphView> view =
      coordinator_.GetGraph(*id, request->include_attempts());
  if (view.ok()) ToProto(*view, *response);
  return Done(ctx, view.status());
}

grpc::ServerUnaryReactor* TaskServiceImpl::ListGraphs(
    grpc::CallbackServerContext* ctx, const v1::ListGraphsRequest* request,
    v1::ListGraphsResponse* response) {
  int limit = request->limit() <= 0 ? 100 : std::min(request->limit(), 10'000);
  auto graphs = coordinator_.ListGraphs(limit);
  if (graphs.ok()) {
    for (const GraphSummaryView& g : *graphs) ToProto(g, *response->add_graphs());
  }
  return Done(ctx, graphs.status());
}

grpc::ServerUnaryReactor* TaskServiceImpl::CancelGraph(
    grpc::CallbackServerContext* ctx, const v1::CancelGraphRequest* request,
    v1::CancelGraphResponse* response) {
  absl::StatusOr<GraphId> id = ParseGraphId(request->graph_id());
  if (!id.ok()) return Done(ctx, id.status());
  absl::StatusOr<int64_t> cancelled = coordinator_.Cancel(
      *id, {request->task_ids().begin(), request->task_ids().end()});
  if (cancelled.ok()) response->set_cancelled(*cancelled);
  return Done(ctx, cancelled.status());
}

grpc::ServerUnaryReactor* TaskServiceImpl::RetryGraph(
    grpc::CallbackServerContext* ctx, const v1::RetryGraphRequest* request,
    v1::RetryGraphResponse* response) {
  absl::StatusOr<GraphId> id = ParseGraphId(request->graph_id());
  if (!id.ok()) return Done(ctx, id.status());
  absl::StatusOr<int64_t> retried = coordinator_.Retry(*id);
  if (retried.ok()) response->set_retried(*retried);
  return Done(ctx, retried.status());
}

grpc::ServerWriteReactor<v1::GraphEvent>* TaskServiceImpl::WatchGraph(
    grpc::CallbackServerContext* /*ctx*/, const v1::WatchGraphRequest* request) {
  return new WatchReactor(coordinator_, ParseGraphId(request->graph_id()));
}

grpc::ServerUnaryReactor* TaskServiceImpl::ListWorkers(
    grpc::CallbackServerContext* ctx, const v1::ListWorkersRequest* /*request*/,
    v1::ListWorkersResponse* response) {
  for (const WorkerView& w : coordinator_.ListWorkers()) {
    ToProto(w, *response->add_workers());
  }
  return Done(ctx, absl::OkStatus());
}

}  // namespace vitte::task
