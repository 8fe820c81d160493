#include "coordinator/event_stream.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "coordinator/proto_convert.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "vitte/task/v1/task.grpc.pb.h"

namespace vitte::task {
namespace {

// A message of a batched stream stops growing past this size.
constexpr size_t kMaxBatchBytes = 1 << 20;
// The same for a write started by Push, which runs on the coordinator's
// commit thread: later messages are built on gRPC's threads (OnWriteDone),
// so the commit thread serialises little per follower.
constexpr size_t kMaxPushedBatchBytes = 64 << 10;
// A follower with this many live events queued is too slow: its stream
// ends (RESOURCE_EXHAUSTED) rather than the daemon's memory growing
// without bound; it resumes from its last cursor. A compacted catch-up is
// not counted: it is the size of the graph, which was accepted.
constexpr size_t kMaxQueuedEvents = 500'000;

// Streams one follower's events, one write in flight at a time. Events are
// queued by the coordinator's commit thread; only the first message after
// an idle spell is built there (and kept small), the rest on gRPC's
// threads, so that a big catch-up does not hold up commits. The
// method is registered raw, so events go out as bytes.
class EventStreamReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  EventStreamReactor(Coordinator& coordinator, Authenticator& auth,
                     const absl::StatusOr<Caller>& caller,
                     absl::StatusOr<FollowTarget> target, EventFraming framing,
                     RpcMetrics& rpc, absl::string_view method)
      : coordinator_(coordinator),
        auth_(auth),
        framing_(framing),
        rpc_(rpc),
        method_(method),
        link_(std::make_shared<Link>(this)) {
    {
      absl::MutexLock lock(&mu_);
      // Until a batch says more, the follower has everything up to where
      // it asked to start: part of a compacted catch-up moves nothing.
      if (target.ok()) sent_cursor_ = target->after;
      // The first batch of a follower of every graph from now on is empty;
      // it is sent all the same, for its cursor.
      send_empty_ = target.ok() && target->graph_id == 0 && target->after == 0;
    }
    if (!caller.ok()) target = caller.status();
    if (target.ok()) {
      // Events stop as soon as the caller's token is revoked.
      call_id_ = auth_.WatchCall(*caller, [link = link_] {
        link->End(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                               "the token was revoked"));
      });
    }
    // Delivers the first batch (Push) before it returns.
    absl::StatusOr<uint64_t> watch =
        target.ok() ? coordinator_.Follow(target->graph_id, target->after, link_)
                    : target.status();
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
    auth_.ForgetCall(call_id_);
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
    explicit Link(EventStreamReactor* reactor) : reactor_(reactor) {}
    void OnEvents(EventBatch batch) override {
      absl::MutexLock lock(&mu_);
      if (reactor_ != nullptr) reactor_->Push(std::move(batch));
    }
    // Ends the call with `status` (once; nothing after OnDone).
    void End(grpc::Status status) {
      absl::MutexLock lock(&mu_);
      if (reactor_ == nullptr) return;
      reactor_->End(std::move(status));
    }
    void Detach() {
      absl::MutexLock lock(&mu_);
      reactor_ = nullptr;
    }

   private:
    absl::Mutex mu_;
    EventStreamReactor* reactor_ ABSL_GUARDED_BY(mu_);
  };

  void End(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    FinishLocked(std::move(status));
  }

  void Push(EventBatch batch) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (!batch.compacted) live_queued_ += batch.events.size();
    if (live_queued_ > kMaxQueuedEvents) {
      FinishLocked(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("this follower fell more than ", kMaxQueuedEvents,
                       " events behind; resume after sequence ", sent_cursor_)));
      return;
    }
    queue_.push_back(std::move(batch));
    WriteNextLocked(kMaxPushedBatchBytes);
  }

  // Takes the next message's events from the front of the queue: every
  // batch queued, up to the size limit, as long as they are all compacted
  // or all not.
  void FillLocked(v1::EventBatch& message, size_t max_bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const bool compacted = queue_.front().compacted;
    message.set_compacted(compacted);
    size_t bytes = 0;
    while (!queue_.empty() && queue_.front().compacted == compacted &&
           bytes < max_bytes && !ends_) {
      EventBatch& front = queue_.front();
      while (front_taken_ < front.events.size() && bytes < max_bytes) {
        v1::GraphEvent* event = message.add_events();
        ToProto(front.events[front_taken_++], *event);
        bytes += event->ByteSizeLong();
        if (!compacted) {
          --live_queued_;
          sent_cursor_ = event->sequence();
        }
      }
      if (front_taken_ < front.events.size()) break;
      // Everything up to the batch's cursor is sent. Part of a compacted
      // batch advances nothing: its events are not in sequence order.
      sent_cursor_ = front.cursor;
      ends_ = front.end;
      queue_.pop_front();
      front_taken_ = 0;
    }
    message.set_cursor(sent_cursor_);
  }

  void WriteNextLocked(size_t max_bytes = kMaxBatchBytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    // Batches without events (possible only for the first one) are sent
    // only when asked for: they carry nothing but a cursor.
    while (!queue_.empty() && queue_.front().events.empty() && !send_empty_) {
      sent_cursor_ = queue_.front().cursor;
      ends_ = queue_.front().end;
      queue_.pop_front();
    }
    if (queue_.empty()) {
      if (ends_) FinishLocked(grpc::Status::OK);
      return;
    }
    send_empty_ = false;
    bool own_buffer = false;
    writing_bytes_.Clear();  // the previous write is done; Serialize wants it empty
    if (framing_ == EventFraming::kBatches) {
      v1::EventBatch message;
      FillLocked(message, max_bytes);
      (void)grpc::SerializationTraits<v1::EventBatch>::Serialize(
          message, &writing_bytes_, &own_buffer);  // cannot fail: valid message
    } else {
      EventBatch& front = queue_.front();
      v1::GraphEvent event;
      ToProto(front.events[front_taken_++], event);
      if (!front.compacted) --live_queued_;
      if (front_taken_ == front.events.size()) {
        ends_ = front.end;
        queue_.pop_front();
        front_taken_ = 0;
      }
      (void)grpc::SerializationTraits<v1::GraphEvent>::Serialize(
          event, &writing_bytes_, &own_buffer);
    }
    writing_ = true;
    StartWrite(&writing_bytes_);
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    rpc_.Handled(v1::TaskService::service_full_name(), method_,
                 status.error_code());
    Finish(std::move(status));
  }

  Coordinator& coordinator_;
  Authenticator& auth_;
  // Set in the constructor only.
  Authenticator::CallId call_id_ = 0;
  const EventFraming framing_;
  RpcMetrics& rpc_;
  const std::string method_;
  const std::shared_ptr<Link> link_;
  absl::Mutex mu_;
  // Batches not yet written; front_taken_ events of the front one are.
  std::deque<EventBatch> queue_ ABSL_GUARDED_BY(mu_);
  size_t front_taken_ ABSL_GUARDED_BY(mu_) = 0;
  size_t live_queued_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sent_cursor_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::ByteBuffer writing_bytes_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool send_empty_ ABSL_GUARDED_BY(mu_) = false;
  bool ends_ ABSL_GUARDED_BY(mu_) = false;  // the last batch was taken
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t watch_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* NewEventStream(
    Coordinator& coordinator, Authenticator& auth,
    const absl::StatusOr<Caller>& caller, absl::StatusOr<FollowTarget> target,
    EventFraming framing, RpcMetrics& rpc, absl::string_view method) {
  return new EventStreamReactor(coordinator, auth, caller, std::move(target),
                                framing, rpc,
                                method);
}

}  // namespace vitte::task
