#include "coordinator/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/listen_policy.h"
#include "common/status_macros.h"
#include "coordinator/http_routes.h"
#include "coordinator/rpc_metrics.h"
#include "coordinator/task_service.h"
#include "coordinator/worker_service.h"
#include "spdlog/spdlog.h"

namespace vitte::task {

namespace {

// Long calls whose token was revoked end within this: each sweep reads the
// token table once per token in use.
constexpr absl::Duration kRevocationSweep = absl::Seconds(2);

// Refuses an unprotected listener on a non-loopback address unless
// --insecure, and warns at every start when --insecure is what allows it.
absl::Status CheckListeners(const ServerOptions& options) {
  struct Listener {
    const char* flag;
    const std::string& address;
    ListenProtection protection;
  };
  const Listener listeners[] = {
      {"--listen",
       options.listen,
       {.tls = options.tls.enabled(),
        .insecure = options.insecure,
        .authenticated = options.auth.require_tokens}},
      // HTTPS has its own flags: the gRPC port's TLS does not carry over.
      // Its API asks for the same tokens as the gRPC port.
      {"--metrics-listen",
       options.metrics_listen,
       {.tls = options.http_tls.enabled(),
        .insecure = options.insecure,
        .authenticated = options.auth.require_tokens,
        .tls_flags = "--http-tls-cert and --http-tls-key"}},
  };
  for (const Listener& l : listeners) {
    ASSIGN_OR_RETURN(ListenVerdict verdict,
                     CheckListenAddress(l.flag, l.address, l.protection));
    if (verdict == ListenVerdict::kInsecure) {
      spdlog::warn(
          "INSECURE: {} {} serves {} on a non-loopback address "
          "(--insecure): anyone who can reach it can see and run tasks",
          l.flag, l.address,
          !l.protection.tls && !l.protection.authenticated
              ? "plain text without tokens"
          : !l.protection.tls ? "plain text (tokens travel in clear)"
                              : "without tokens");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    ServerOptions options) {
  // Before anything is opened or bound: a refused address changes nothing.
  RETURN_IF_ERROR(CheckListeners(options));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   MakeServerCredentials(options.tls));
  std::unique_ptr<CoordinatorServer> s(new CoordinatorServer());
  ASSIGN_OR_RETURN(s->store_, Store::Open(options.db_path, options.store));
  if (options.auth.require_tokens) {
    // Its own connection: `vitte-taskd token` changes the table while the
    // daemon runs, and each call reads it afresh.
    ASSIGN_OR_RETURN(s->tokens_, TokenStore::Open(options.db_path));
    ASSIGN_OR_RETURN(std::vector<TokenRecord> tokens, s->tokens_->List());
    if (std::none_of(tokens.begin(), tokens.end(),
                     [](const TokenRecord& t) { return !t.revoked(); })) {
      spdlog::warn(
          "--auth tokens, and no valid token yet: every call is refused. "
          "Make one with `vitte-taskd token create --db {} --role admin "
          "--name NAME`",
          options.db_path);
    }
  }
  s->auth_ = std::make_unique<Authenticator>(s->tokens_.get(), options.auth,
                                             Clock::Real(), *s->metrics_);
  // A server has many callers at once: their changes share commits, and
  // gRPC threads never wait on the disk for workers.
  options.coordinator.background_commit = true;
  options.coordinator.metrics = s->metrics_.get();
  ASSIGN_OR_RETURN(s->coordinator_,
                   Coordinator::Create(*s->store_, Clock::Real(),
                                       options.coordinator));
  s->task_service_ = std::make_unique<TaskServiceImpl>(
      *s->coordinator_, *s->auth_, *s->rpc_metrics_);
  s->worker_service_ = std::make_unique<WorkerServiceImpl>(
      *s->coordinator_, *s->auth_, *s->rpc_metrics_);

  // The standard health service (grpc.health.v1.Health: SERVING until
  // Shutdown begins) for load balancers and orchestrators, and server
  // reflection, so that grpcurl can call the daemon without the .proto
  // files. Both are process-wide switches that the builder reads.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!options.listen.empty()) {
    builder.AddListeningPort(options.listen, credentials, &s->port_);
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // Workers hold a stream open for hours; keepalive pings notice a dead peer
  // (machine gone, cable pulled) that TCP alone would report only after
  // minutes.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             5'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Keep pinging an idle stream: by default gRPC stops after two pings
  // without data, and a dead peer would then go unnoticed.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // gRPC sets SO_REUSEPORT by default, which would let a second daemon bind
  // the same port and silently take half of the clients and workers.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(s->task_service_.get());
  builder.RegisterService(s->worker_service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr ||
      (!options.listen.empty() && s->port_ == 0)) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on \"", options.listen, "\""));
  }
  if (!options.listen.empty()) {
    spdlog::info("serving on {} (port {}, {}, {}), database {}",
                 options.listen, s->port_,
                 !options.tls.enabled() ? "plain text"
                 : options.tls.client_ca_file.empty()
                     ? "TLS"
                     : "TLS, client certificates required",
                 options.auth.require_tokens ? "tokens required"
                                             : "no tokens",
                 options.db_path);
  }
  if (!options.metrics_listen.empty()) {
    s->http_ = std::make_unique<HttpServer>();
    AddHttpRoutes(*s->http_, *s->coordinator_, *s->auth_);
    ASSIGN_OR_RETURN(s->http_port_,
                     s->http_->Start(options.metrics_listen, options.http_tls));
    spdlog::info("serving {} (metrics, dashboard) on {} (port {})",
                 !options.http_tls.enabled() ? "HTTP"
                 : options.http_tls.client_ca_file.empty()
                     ? "HTTPS"
                     : "HTTPS, client certificates required",
                 options.metrics_listen, s->http_port_);
  }
  // Leases are checked often enough that a lost worker is noticed within
  // a tenth of the lease timeout (or of the reconnect grace) after it
  // expires.
  absl::Duration tick = std::clamp(
      std::min(options.coordinator.lease_timeout,
               options.coordinator.reconnect_grace) / 10,
      absl::Milliseconds(10), absl::Milliseconds(200));
  CoordinatorServer* self = s.get();
  s->ticker_ = std::thread([self, tick] {
    absl::Time next_sweep = absl::Now() + kRevocationSweep;
    absl::MutexLock lock(&self->mu_);
    while (!self->mu_.AwaitWithTimeout(absl::Condition(&self->shut_down_),
                                       tick)) {
      self->mu_.Unlock();
      self->coordinator_->Tick();
      if (absl::Now() >= next_sweep) {
        self->auth_->SweepRevoked();
        next_sweep = absl::Now() + kRevocationSweep;
      }
      self->mu_.Lock();
    }
  });
  return s;
}

CoordinatorServer::CoordinatorServer()
    : metrics_(std::make_unique<MetricsRegistry>()),
      rpc_metrics_(std::make_unique<RpcMetrics>(
          *metrics_,
          std::vector<std::string>{v1::TaskService::service_full_name(),
                                   v1::WorkerService::service_full_name()})) {}

CoordinatorServer::~CoordinatorServer() { Shutdown(absl::Seconds(1)); }

std::shared_ptr<grpc::Channel> CoordinatorServer::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return server_->InProcessChannel(args);
}

void CoordinatorServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (ticker_.joinable()) ticker_.join();
  // Before the coordinator goes: handlers read from it.
  if (http_ != nullptr) http_->Stop();
  // Start() may have failed half-way; stop what was built.
  if (coordinator_ != nullptr) coordinator_->BeginShutdown();
  if (server_ != nullptr) {
    // Health checks answer NOT_SERVING from here on.
    if (grpc::HealthCheckServiceInterface* health =
            server_->GetHealthCheckService()) {
      health->Shutdown();
    }
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoNanoseconds(grace));
    server_->Wait();
  }
  coordinator_.reset();
  store_.reset();
  spdlog::info("coordinator stopped");
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

void CoordinatorServer::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&stopped_));
}

}  // namespace vitte::task
