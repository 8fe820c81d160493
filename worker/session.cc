#include "worker/session.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <random>
#include <thread>

#include "common/grpc_status.h"
#include "common/tls.h"
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
  // Tasks can tell which attempt they are (e.g. to name their outputs).
  out.process.env["VITTE_GRAPH_ID"] = in.graph_id();
  out.process.env["VITTE_TASK_ID"] = in.task_id();
  out.process.env["VITTE_ATTEMPT_ID"] = std::to_string(in.attempt_id());
  out.process.cwd = in.cwd();
  out.labels.insert(in.labels().begin(), in.labels().end());
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
  out.set_stdout_bytes(r.stdout_bytes);
  out.set_stderr_bytes(r.stderr_bytes);
  out.set_started_at_ms(absl::ToUnixMillis(r.started_at));
  out.set_finished_at_ms(absl::ToUnixMillis(r.finished_at));
}

void ToProto(const WorkOutput& in, v1::OutputChunk& out) {
  out.set_attempt_id(in.attempt_id);
  out.set_stream(in.stream == OutputStream::kStdout ? v1::OUTPUT_STREAM_STDOUT
                                                    : v1::OUTPUT_STREAM_STDERR);
  out.set_offset(in.offset);
  out.set_data(in.data);
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
      options_(std::move(options)) {
  if (MetricsRegistry* m = options_.metrics) {
    connected_gauge_ = &m->AddGauge(
        "vitte_worker_connected",
        "1 while a session with the coordinator is registered, else 0.");
    sessions_counter_ =
        &m->AddCounter("vitte_worker_sessions_total",
                       "Sessions the coordinator accepted (registrations).");
    reconnects_counter_ = &m->AddCounter(
        "vitte_worker_reconnects_total",
        "Connection attempts after the first: each follows a session that "
        "ended or a coordinator that could not be reached.");
  }
}

void WorkerSession::SetConnected(bool connected) {
  connected_ = connected;
  if (connected_gauge_ != nullptr) connected_gauge_->Set(connected ? 1 : 0);
  if (connected && sessions_counter_ != nullptr) sessions_counter_->Increment();
}

WorkerSession::~WorkerSession() { Stop(); }

void WorkerSession::Run() {
  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = options_.initial_backoff;
  bool first_try = true;
  while (true) {
    bool give_up = false;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      // Draining without a coordinator to say goodbye to: wait for the
      // running attempts until the deadline, then stop them. Their tasks
      // are re-queued when the coordinator's lease on them runs out.
      if (draining_ && (worker_.idle() || absl::Now() >= drain_deadline_)) {
        stopping_ = true;
        give_up = true;
      }
    }
    if (give_up) {
      worker_.StopAll();
      return;
    }
    if (!first_try && reconnects_counter_ != nullptr) {
      reconnects_counter_->Increment();
    }
    first_try = false;
    const SessionEnd end = RunOnce();
    if (end.registered) backoff = options_.initial_backoff;
    // Full jitter: a fleet of workers that lost the coordinator together
    // does not come back in lockstep.
    std::uniform_int_distribution<int64_t> jitter(
        0, absl::ToInt64Microseconds(backoff));
    absl::Duration wait = absl::Microseconds(jitter(rng));
    backoff = std::min(backoff * 2, options_.max_backoff);
    if (end.code == absl::StatusCode::kUnauthenticated ||
        end.code == absl::StatusCode::kPermissionDenied) {
      spdlog::error(
          "the coordinator refuses this worker's token or name; check "
          "--token-file and --name (trying again in {})",
          absl::FormatDuration(options_.refused_backoff));
      wait = options_.refused_backoff;
    }
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    spdlog::info("reconnecting in {}", absl::FormatDuration(wait));
    if (draining_) wait = std::min(wait, std::max(drain_deadline_ - absl::Now(),
                                                   absl::ZeroDuration()));
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait)) return;
    mu_.Unlock();
    // Calls on a channel that just failed fail fast with its last error;
    // waiting here (at most a second) keeps a connection attempt going, so
    // that the next session starts as soon as the coordinator is back.
    channel_->WaitForConnected(
        absl::ToChronoTime(absl::Now() + options_.max_backoff));
    mu_.Lock();
  }
}

WorkerSession::SessionEnd WorkerSession::RunOnce() {
  auto stub = v1::WorkerService::NewStub(channel_);
  Stream stream;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return {};
    stream_ = &stream;
  }
  stream.rw = stub->Connect(&stream.context);

  v1::WorkerMessage hello;
  hello.mutable_register_()->set_name(options_.name);
  hello.mutable_register_()->set_slots(worker_.slots());
  hello.mutable_register_()->set_prefetch(options_.prefetch);
  for (const auto& [k, v] : options_.labels) {
    (*hello.mutable_register_()->mutable_labels())[k] = v;
  }
  for (const auto& [k, v] : options_.serve_labels) {
    (*hello.mutable_register_()->mutable_serve_labels())[k] = v;
  }
  // What survived the previous session: the coordinator keeps the attempts
  // still current with this session and cancels the others.
  for (uint64_t id : worker_.Held()) {
    hello.mutable_register_()->add_held_attempt_ids(id);
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
          worker_.set_output_limit(static_cast<uint64_t>(
              std::max<int64_t>(msg.registered().max_log_bytes(), 0)));
          {
            absl::MutexLock l(&mu_);
            SetConnected(true);
          }
          spdlog::info("registered as \"{}\" (session {}, {} slots)",
                       options_.name, msg.registered().session_id(),
                       worker_.slots());
          // The writer may be waiting out our default interval; make it
          // pick up the coordinator's (which may be shorter) right away.
          worker_.WakeUp();
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

    bool told_draining = false;
    bool said_goodbye = false;
    while (true) {
      absl::Duration interval;
      {
        absl::MutexLock lock(&read_mu);
        if (!reading) break;
        interval = heartbeat;
      }
      bool draining;
      absl::Time drain_deadline;
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
        draining = draining_;
        drain_deadline = drain_deadline_;
      }
      v1::WorkerMessage msg;
      std::vector<WorkResult> results;
      std::vector<WorkOutput> output;
      if (draining && !told_draining) {
        msg.set_draining(true);
        told_draining = true;
      } else {
        absl::Time until = absl::Now() + interval;
        if (draining) until = std::min(until, drain_deadline);
        results = worker_.TakeResults(until, options_.result_batch_window);
        // After the results, so that their attempts' last output comes too
        // (the coordinator applies output first).
        output = worker_.TakeOutput(results);
        for (const WorkResult& r : results) ToProto(r, *msg.add_results());
        // Kept (copied into msg): it goes back to the worker if the write
        // fails.
        for (const WorkOutput& o : output) ToProto(o, *msg.add_output());
      }
      bool goodbye = false;
      if (told_draining) {
        if (worker_.idle()) {
          goodbye = true;
        } else if (absl::Now() >= drain_deadline) {
          // Past the drain deadline: stop what still runs and give it back.
          for (uint64_t id : worker_.StopAll()) {
            msg.add_handed_back_attempt_ids(id);
          }
          goodbye = true;
        }
        msg.set_goodbye(goodbye);
      }
      if (!stream.rw->Write(msg)) {
        worker_.ReturnResults(std::move(results));
        worker_.ReturnOutput(std::move(output));
        break;
      }
      if (goodbye) {
        spdlog::info("drained; said goodbye to the coordinator");
        said_goodbye = true;
        absl::MutexLock lock(&mu_);
        stopping_ = true;
        break;
      }
    }
    stream.rw->WritesDone();
    if (said_goodbye) {
      // The coordinator ends the call once it has read the goodbye.
      // Cancelling at once could discard the goodbye (and the attempts it
      // hands back) before the coordinator reads it, which then sees a
      // broken stream and waits out the reconnect grace. Wait for that end,
      // bounded in case the coordinator never answers.
      absl::MutexLock lock(&read_mu);
      auto ended = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu) {
        return !reading;
      };
      read_mu.AwaitWithTimeout(absl::Condition(&ended), absl::Seconds(5));
    }
    bool ended_by_coordinator;
    {
      absl::MutexLock lock(&read_mu);
      ended_by_coordinator = !reading;
    }
    // Cancelling a call that the coordinator ended would replace its
    // status, which says why (a refused token, an expired session), with
    // CANCELLED.
    if (!ended_by_coordinator) stream.context.TryCancel();
    reader.join();
  }
  grpc::Status status = stream.rw->Finish();
  {
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
    SetConnected(false);
  }
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
  }
  absl::MutexLock lock(&read_mu);
  if (!status.ok() && !stopping) {
    // A TLS failure gets a hint: gRPC's words do not say what to check.
    spdlog::warn("session with the coordinator ended: {}",
                 ExplainTlsFailure(FromGrpcStatus(status), options_.tls)
                     .ToString());
  }
  return {registered, FromGrpcStatus(status).code()};
}

void WorkerSession::Drain(absl::Duration deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (draining_) return;
    draining_ = true;
    drain_deadline_ = absl::Now() + deadline;
  }
  spdlog::info("draining: no new task; running ones have {} to finish",
               absl::FormatDuration(deadline));
  worker_.WakeUp();
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
