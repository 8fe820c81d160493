#include "coordinator/worker_service.h"

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "coordinator/call_auth.h"
#include "coordinator/proto_convert.h"
#include "spdlog/spdlog.h"

namespace vitte::task {
namespace {

// One worker session. Reads are sequential (one StartRead at a time); writes
// are coalesced: while one message is in flight, everything the coordinator
// sends accumulates in a single pending message, so a burst of assignments
// leaves as one write. Deletes itself in OnDone.
class SessionReactor
    : public grpc::ServerBidiReactor<v1::WorkerMessage, v1::CoordinatorMessage> {
 public:
  // A reactor whose caller was refused (`caller` not OK) ends the call
  // with that status at once.
  SessionReactor(Coordinator& coordinator, Authenticator& auth,
                 RpcMetrics& rpc, std::string peer,
                 absl::StatusOr<Caller> caller)
      : coordinator_(coordinator),
        auth_(auth),
        rpc_(rpc),
        peer_(std::move(peer)),
        link_(std::make_shared<Link>(this)) {
    if (!caller.ok()) {
      FinishOnce(ToGrpcStatus(caller.status()));
      return;
    }
    caller_ = *caller;
    // A token revoked while the session lasts ends it (see
    // Authenticator::SweepRevoked); the link outlives the reactor.
    call_id_ = auth_.WatchCall(
        *caller, [link = link_, peer = peer_, name = caller->name] {
          spdlog::warn("worker at {} ends: its token \"{}\" was revoked", peer,
                       name);
          link->Close(absl::UnauthenticatedError("the worker's token was revoked"));
        });
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The worker closed its side, the connection broke, or a message did
      // not parse: gRPC tells these apart no further. A worker that leaves
      // properly says goodbye first, so this is never a clean end.
      EndSession();
      FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "the worker stream ended without goodbye (closed "
                              "early, or a message that does not parse)"));
      return;
    }
    if (session_ == 0) {
      if (!in_.has_register_()) {
        FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "the first message of a worker session must "
                            "carry register"));
        return;
      }
      if (absl::Status named = CheckWorkerName(caller_, in_.register_().name());
          !named.ok()) {
        spdlog::warn("worker at {} refused: {}", peer_, named.ToString());
        FinishOnce(ToGrpcStatus(named));
        return;
      }
      absl::StatusOr<SessionId> session =
          coordinator_.OpenSession(FromProto(in_.register_()), link_);
      if (!session.ok()) {
        spdlog::warn("worker at {} refused: {}", peer_,
                     session.status().ToString());
        FinishOnce(ToGrpcStatus(session.status()));
        return;
      }
      session_ = *session;
    } else {
      bool alive = true;
      if (in_.output_size() > 0) {
        // Before the results: an attempt's last output may travel with its
        // result, which ends the attempt.
        std::vector<OutputChunk> chunks;
        chunks.reserve(in_.output_size());
        for (v1::OutputChunk& c : *in_.mutable_output()) {
          if (std::optional<OutputChunk> chunk = FromProto(std::move(c))) {
            chunks.push_back(*std::move(chunk));
          }
        }
        coordinator_.ReportOutput(session_, std::move(chunks));
      }
      if (in_.results_size() > 0) {
        std::vector<AttemptOutcome> results;
        results.reserve(in_.results_size());
        for (const v1::AttemptResult& r : in_.results()) {
          results.push_back(FromProto(r));
        }
        coordinator_.Report(session_, results);
      } else {
        alive = coordinator_.Heartbeat(session_);
      }
      if (in_.draining()) coordinator_.Drain(session_);
      if (in_.goodbye()) {
        coordinator_.Goodbye(std::exchange(session_, 0));
        FinishOnce(grpc::Status::OK);
        return;
      }
      if (!alive) {
        // Declared lost (or replaced) while its stream stayed open.
        FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "session expired; register again"));
        return;
      }
    }
    in_.Clear();
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) WriteNextLocked();
  }

  void OnDone() override {
    auth_.ForgetCall(call_id_);
    link_->Detach();
    EndSession();
    delete this;
  }

 private:
  // The coordinator's handle on this session; outlives the reactor.
  class Link : public WorkerConnection {
   public:
    explicit Link(SessionReactor* reactor) : reactor_(reactor) {}
    void OnRegistered(SessionId session,
                      absl::Duration heartbeat_interval) override {
      absl::MutexLock lock(&mu_);
      if (reactor_ == nullptr) return;
      const int64_t max_log_bytes =
          reactor_->coordinator_.options().max_log_bytes;
      reactor_->Queue([&](v1::CoordinatorMessage& m) {
        m.mutable_registered()->set_session_id(session);
        m.mutable_registered()->set_heartbeat_interval_ms(
            absl::ToInt64Milliseconds(heartbeat_interval));
        m.mutable_registered()->set_max_log_bytes(max_log_bytes);
      });
    }
    void Send(std::vector<Assignment> assignments,
              std::vector<AttemptId> cancels) override {
      absl::MutexLock lock(&mu_);
      if (reactor_ == nullptr) return;
      reactor_->Queue([&](v1::CoordinatorMessage& m) {
        for (const Assignment& a : assignments) ToProto(a, *m.add_assignments());
        for (AttemptId id : cancels) m.add_cancel_attempt_ids(id);
      });
    }
    void Close(const absl::Status& why) override {
      absl::MutexLock lock(&mu_);
      if (reactor_ == nullptr) return;
      reactor_->FinishOnce(ToGrpcStatus(why));
    }
    void Detach() {
      absl::MutexLock lock(&mu_);
      reactor_ = nullptr;
    }

   private:
    absl::Mutex mu_;
    SessionReactor* reactor_ ABSL_GUARDED_BY(mu_);
  };

  template <typename Fill>
  void Queue(Fill fill) {
    absl::MutexLock lock(&mu_);
    fill(pending_);
    has_pending_ = true;
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || !has_pending_ || finished_) return;
    writing_msg_.Swap(&pending_);
    pending_.Clear();
    has_pending_ = false;
    writing_ = true;
    StartWrite(&writing_msg_);
  }

  // Nothing is written once the stream is finishing.
  void FinishOnce(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    rpc_.Handled(v1::WorkerService::service_full_name(), "Connect",
                 status.error_code());
    Finish(std::move(status));
  }

  void EndSession() {
    // Reads and OnDone never overlap, so session_ needs no lock.
    if (session_ == 0) return;
    coordinator_.CloseSession(std::exchange(session_, 0));
  }

  Coordinator& coordinator_;
  Authenticator& auth_;
  RpcMetrics& rpc_;
  const std::string peer_;
  const std::shared_ptr<Link> link_;
  // Set in the constructor only.
  Caller caller_;
  Authenticator::CallId call_id_ = 0;
  v1::WorkerMessage in_;
  SessionId session_ = 0;

  absl::Mutex mu_;
  v1::CoordinatorMessage writing_msg_ ABSL_GUARDED_BY(mu_);
  v1::CoordinatorMessage pending_ ABSL_GUARDED_BY(mu_);
  bool has_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerBidiReactor<v1::WorkerMessage, v1::CoordinatorMessage>*
WorkerServiceImpl::Connect(grpc::CallbackServerContext* ctx) {
  return new SessionReactor(
      coordinator_, auth_, rpc_, ctx->peer(),
      AuthorizeCall(auth_, *ctx, kWorkerServiceName, "Connect"));
}

}  // namespace vitte::task
