// Everything vitte-taskd runs, wired together: the store, the coordinator
// and the gRPC server with both services. Used by the daemon and by
// `vitte-task run`, which embeds a coordinator.
#ifndef VITTE_COORDINATOR_SERVER_H_
#define VITTE_COORDINATOR_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "coordinator/auth.h"
#include "coordinator/coordinator.h"
#include "coordinator/store.h"

namespace grpc {
class Channel;
class Server;
}  // namespace grpc

namespace vitte::task {

class RpcMetrics;
class TaskServiceImpl;
class WorkerServiceImpl;

struct ServerOptions {
  // host:port; port 0 picks a free one (see CoordinatorServer::port()).
  // Empty: no network listener, only the in-process channel.
  std::string listen = "127.0.0.1:7070";
  std::string db_path;
  StoreOptions store;
  CoordinatorOptions coordinator;
  // TLS on the gRPC port (both services); off when empty.
  ServerTlsOptions tls;
  // host:port for HTTP (/metrics, the dashboard and its JSON API); port 0
  // picks a free one (see http_port()). Empty: no HTTP listener.
  std::string metrics_listen;
  // HTTPS on metrics_listen; plain HTTP when empty. Independent of `tls`:
  // the HTTP clients (browsers, Prometheus) are not the gRPC ones.
  HttpTlsOptions http_tls;
  // Who may call: tokens, their rate.
  AuthOptions auth;
  // Allows listening without protection on a non-loopback address (see
  // common/listen_policy.h); a warning is logged at each start then.
  bool insecure = false;
  // Largest message accepted from a client or worker. A graph of a million
  // small tasks takes about 50 MiB.
  int max_message_bytes = 64 << 20;
};

// Thread-safe.
class CoordinatorServer {
 public:
  // Opens the store, recovers unfinished graphs, then starts serving.
  // FAILED_PRECONDITION if the db is held by another daemon, or if an
  // address is not loopback and unprotected without options.insecure
  // (checked first: nothing is opened then); INVALID_ARGUMENT or NOT_FOUND
  // for TLS files that cannot be used; UNAVAILABLE if the address cannot be
  // bound. With options.auth.require_tokens, every call needs a token of
  // the database's (see TokenStore).
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(
      ServerOptions options);
  // Shuts down (see Shutdown) if still running.
  ~CoordinatorServer();

  // The port bound for options.listen (the chosen one when it asked for 0).
  int port() const { return port_; }
  // The port bound for options.metrics_listen; 0 without one.
  int http_port() const { return http_port_; }
  // A channel to this server that does not go through the network.
  std::shared_ptr<grpc::Channel> InProcessChannel();
  Coordinator& coordinator() { return *coordinator_; }
  // The daemon's metrics: the coordinator's and the services'.
  MetricsRegistry& metrics() { return *metrics_; }

  // Stops accepting, ends every stream (leaving running attempts running in
  // the store for the next start), waits up to `grace` for calls in
  // progress, then closes the database.
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  // Blocks until Shutdown returns.
  void Wait();

 private:
  CoordinatorServer();

  int port_ = 0;
  int http_port_ = 0;
  // Before everything that records into them, so that they go last.
  std::unique_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<RpcMetrics> rpc_metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<TokenStore> tokens_;  // with --auth tokens only
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<TaskServiceImpl> task_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_;
  // Calls Coordinator::Tick until Shutdown.
  std::thread ticker_;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;  // Shutdown began
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;    // Shutdown returned
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_SERVER_H_
