#include "worker/session.h"

#include <grpcpp/grpcpp.h>

#include <random>
#include <thread>

#include "spdlog/spdlog.h"
#include "vitte/task/v1/task.grpc.pb.h"

namespace vitte::task {
namespace {


WorkAssignment FromProto(const v1::Assignment& in) {
  WorkAssignment out;
  out.attempt_id = in.attempt_id();
  out.graph_id = in.graph_id();
  out.task_id = in.task_id();
  out.process.argv.assign(in.command().begin(), in.command().end());
  out.process.env.insert(in.env().begin(), in.env().end());
  out.process.cwd = in.cwd();
  if (in.timeout_s() > 0) out.process.timeout = absl::Seconds(in.timeout_s());
  return out;
}

void ToProto(const WorkResult& in, v1::AttemptResult& out) {
  const ProcessResult& r = in.result;
  out.set_attempt_id(in.attempt_id);
  out.set_success(r.success());
  out.set_exit_code(r.exit_code);
  out.set_signal(r.signal);
  out.set_timed_out(r.timed_out);
  out.set_error(r.error);
  out.set_stdout_tail(r.stdout_tail);
  out.set_stderr_tail(r.stderr_tail);
  out.set_started_at_ms(absl::ToUnixMillis(r.started_at));
  out.set_finished_at_ms(absl::ToUnixMillis(r.finished_at));
}

}  // namespace

struct WorkerSession::Stream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage,
                                           v1::CoordinatorMessage>>
      rw;
};

WorkerSession::WorkerSession(std::shared_ptr<grpc::Channel> channel,
                             Worker& worker, SessionOptions options)
    : channel_(std::move(channel)),
      worker_(worker),
      options_(std::move(options)) {}

WorkerSession::~WorkerSession() { Stop(); }

void WorkerSession::Run() {
  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (RunOnce()) backoff = options_.initial_backoff;
    // Full jitter: a fleet of workers that lost the coordinator together
    // does not come back in lockstep.
    std::uniform_int_distribution<int64_t> jitter(
        0, absl::ToInt64Microseconds(backoff));
    absl::Duration wait = absl::Microseconds(jitter(rng));
    backoff = std::min(backoff * 2, options_.max_backoff);
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    spdlog::info("reconnecting in {}", absl::FormatDuration(wait));
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
  }
}

bool WorkerSession::RunOnce() {
  auto stub = v1::WorkerService::NewStub(channel_);
  Stream stream;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    stream_ = &stream;
  }
  stream.rw = stub->Connect(&stream.context);

  v1::WorkerMessage hello;
  hello.mutable_register_()->set_name(options_.name);
  hello.mutable_register_()->set_slots(worker_.slots());
  for (const auto& [k, v] : options_.labels) {
    (*hello.mutable_register_()->mutable_labels())[k] = v;
  }
  bool registered = false;
  absl::Duration heartbeat = options_.heartbeat_interval;
  absl::Mutex read_mu;  // guards `reading` and `heartbeat` across threads
  bool reading = true;
  if (stream.rw->Write(hello)) {
    // Reader: applies what the coordinator pushes. Writer (this thread):
    // sends results as they come, and a heartbeat when idle.
    std::thread reader([&] {
      v1::CoordinatorMessage msg;
      while (stream.rw->Read(&msg)) {
        if (msg.has_registered()) {
          absl::MutexLock lock(&read_mu);
          if (msg.registered().heartbeat_interval_ms() > 0) {
            heartbeat =
                absl::Milliseconds(msg.registered().heartbeat_interval_ms());
          }
          registered = true;
          absl::MutexLock l(&mu_);
          connected_ = true;
          spdlog::info("registered as \"{}\" (session {}, {} slots)",
                       options_.name, msg.registered().session_id(),
                       worker_.slots());
        }
        if (msg.cancel_attempt_ids_size() > 0) {
          worker_.Cancel({msg.cancel_attempt_ids().begin(),
                          msg.cancel_attempt_ids().end()});
        }
        if (msg.assignments_size() > 0) {
          std::vector<WorkAssignment> work;
          work.reserve(msg.assignments_size());
          for (const auto& a : msg.assignments()) work.push_back(FromProto(a));
          worker_.Assign(std::move(work));
        }
        msg.Clear();
      }
      absl::MutexLock lock(&read_mu);
      reading = false;
      worker_.WakeUp();
    });

    while (true) {
      absl::Duration interval;
      {
        absl::MutexLock lock(&read_mu);
        if (!reading) break;
        interval = heartbeat;
      }
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
      }
      std::vector<WorkResult> results =
          worker_.TakeResults(absl::Now() + interval);
      v1::WorkerMessage msg;
      for (const WorkResult& r : results) ToProto(r, *msg.add_results());
      if (!stream.rw->Write(msg)) {
        worker_.ReturnResults(std::move(results));
        break;
      }
    }
    stream.rw->WritesDone();
    stream.context.TryCancel();
    reader.join();
  }
  grpc::Status status = stream.rw->Finish();
  {
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
    connected_ = false;
  }
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
  }
  absl::MutexLock lock(&read_mu);
  if (!status.ok() && !stopping) {
    spdlog::warn("session with the coordinator ended: {} ({})",
                 status.error_message(), static_cast<int>(status.error_code()));
  }
  return registered;
}

void WorkerSession::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    // TryCancel only flags the call; it does not call back into us.
    if (stream_ != nullptr) stream_->context.TryCancel();
  }
  worker_.WakeUp();
}

bool WorkerSession::connected() const {
  absl::MutexLock lock(&mu_);
  return connected_;
}

}  // namespace vitte::task
