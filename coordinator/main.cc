// vitte-taskd: the coordinator daemon.
#include <signal.h>

#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "common/logging.h"
#include "coordinator/server.h"
#include "coordinator/token_command.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "token") == 0) {
    return vitte::task::RunTokenCommand(argc, argv, std::cout, std::cerr);
  }
  vitte::task::ServerOptions options;
  options.db_path = "vitte-taskd.db";
  std::string port_file;
  std::string http_port_file;
  std::string sync = "full";
  std::string log_level = "info";
  std::string log_format = "text";
  vitte::task::FlagParser flags(
      "vitte-taskd: the vitte-task coordinator.\n"
      "Usage: vitte-taskd [--config FILE] [--listen 127.0.0.1:7070] "
      "[--db vitte-taskd.db]\n"
      "                   [--tls-cert FILE --tls-key FILE [--tls-client-ca "
      "FILE]]\n"
      "                   [--auth tokens]\n"
      "       vitte-taskd token create|list|revoke ... (see vitte-taskd "
      "token --help)");
  // Every flag below can also be a key of the --config file.
  flags.AddConfigFileFlag("config");
  flags.AddPrintConfigFlag("print-config");
  flags.AddString("listen", &options.listen,
                  "host:port to serve clients and workers on; port 0 picks a "
                  "free port (see --port-file); an address other than "
                  "loopback needs --tls-cert or --insecure");
  flags.AddString("tls-cert", &options.tls.cert_file,
                  "PEM certificate (chain) to serve TLS with on --listen; "
                  "needs --tls-key");
  flags.AddString("tls-key", &options.tls.key_file,
                  "PEM private key of --tls-cert");
  flags.AddString("tls-client-ca", &options.tls.client_ca_file,
                  "PEM CA: callers (workers and the CLI alike) must present a "
                  "certificate it signed (mutual TLS)");
  std::string auth = "none";
  flags.AddString("auth", &auth,
                  "none, or tokens: every call needs a bearer token made by "
                  "`vitte-taskd token create`, whose role decides what it "
                  "may call; a non-loopback --listen needs tokens (and TLS) "
                  "or --insecure");
  int64_t token_rate_flag =
      static_cast<int64_t>(options.auth.rate_per_second);
  flags.AddInt("token-rate-limit", &token_rate_flag,
               "calls per second each token may make on average, with "
               "bursts of twice as many (0: no limit; --auth tokens only)");
  flags.AddBool("insecure", &options.insecure,
                "allow --listen or --metrics-listen on a non-loopback address "
                "without TLS and tokens (a warning is logged at every "
                "start)");
  flags.AddString("metrics-listen", &options.metrics_listen,
                  "host:port to serve HTTP on: /metrics (Prometheus), the "
                  "dashboard at /, its JSON API under /api/ (port 0 picks "
                  "one; empty: no HTTP); plain HTTP unless --http-tls-cert, "
                  "so off loopback it needs that or --insecure");
  vitte::task::AddHttpTlsFlags(flags, options.http_tls);
  flags.AddString("http-port-file", &http_port_file,
                  "write the bound HTTP port to this file once listening");
  flags.AddString("db", &options.db_path,
                  "SQLite database file, created with its schema if missing");
  flags.AddString("port-file", &port_file,
                  "if set, the bound port is written to this file once "
                  "serving");
  flags.AddString("sync", &sync,
                  "SQLite synchronous mode: full (every acknowledged write "
                  "survives power loss) or normal (survives a crash of the "
                  "daemon; the last commits may be lost on power loss)");
  flags.AddDuration("heartbeat-interval",
                    &options.coordinator.heartbeat_interval,
                    "how often idle workers send a heartbeat");
  flags.AddDuration("lease-timeout", &options.coordinator.lease_timeout,
                    "a worker silent for this long is lost and its tasks "
                    "re-queued; also how long workers have to come back "
                    "after a restart");
  flags.AddDuration("max-commit-delay", &options.coordinator.max_commit_delay,
                    "how long changes that nobody waits for may wait to "
                    "share a commit with later ones (clients and idle "
                    "workers never wait)");
  flags.AddDuration("reconnect-grace", &options.coordinator.reconnect_grace,
                    "how long a worker whose stream broke has to come back "
                    "before its tasks run elsewhere");
  flags.AddDuration("retry-backoff", &options.coordinator.retry_backoff,
                    "delay before the first retry of a failed task; doubles "
                    "with each failure, up to --max-retry-backoff");
  flags.AddDuration("max-retry-backoff",
                    &options.coordinator.max_retry_backoff,
                    "longest delay between two attempts of a failed task");
  int64_t max_lost = options.coordinator.max_lost_attempts;
  flags.AddInt("max-lost-attempts", &max_lost,
               "a task whose worker is lost this many times fails for good "
               "(a task that kills the workers it runs on)");
  int64_t event_history = static_cast<int64_t>(options.coordinator.event_history);
  flags.AddInt("event-history", &event_history,
               "events kept in memory, so that a follower that reconnects "
               "gets exactly the changes it missed (one further behind gets "
               "the state now of what changed)");
  int64_t max_log_bytes = options.coordinator.max_log_bytes;
  flags.AddInt("max-log-bytes", &max_log_bytes,
               "output kept per attempt and stream from its start (the "
               "last 64 KiB are kept too; the rest is marked as not kept)");
  int64_t max_graph_tasks = options.coordinator.limits.max_tasks;
  flags.AddInt("max-graph-tasks", &max_graph_tasks,
               "largest graph accepted, in tasks (a bigger one is refused "
               "with INVALID_ARGUMENT)");
  int64_t max_message = options.max_message_bytes;
  flags.AddInt("max-message-bytes", &max_message,
               "largest request accepted from a client or worker");
  flags.AddString("log-level", &log_level,
                  "trace, debug, info, warn, error, critical or off");
  flags.AddString("log-format", &log_format,
                  "text, or json: one object per line for log collectors");
  if (std::optional<int> exit_code =
          flags.ParseOrExitCode(argc, argv, "vitte-taskd")) {
    return *exit_code;
  }
  if (absl::Status s = vitte::task::SetUpLogging(log_level, log_format); !s.ok()) {
    std::cerr << "vitte-taskd: " << s.message() << "\n";
    return 2;
  }
  if (sync != "full" && sync != "normal") {
    std::cerr << "vitte-taskd: --sync must be full or normal, not \"" << sync
              << "\"\n";
    return 2;
  }
  options.store.synchronous_full = sync == "full";
  if (auth != "none" && auth != "tokens") {
    std::cerr << "vitte-taskd: --auth must be none or tokens, not \"" << auth
              << "\"\n";
    return 2;
  }
  options.auth.require_tokens = auth == "tokens";
  if (token_rate_flag < 0 || token_rate_flag > 1'000'000) {
    std::cerr << "vitte-taskd: --token-rate-limit must be in 0..1000000\n";
    return 2;
  }
  options.auth.rate_per_second = static_cast<double>(token_rate_flag);
  options.auth.burst = 2.0 * static_cast<double>(token_rate_flag);
  if (max_lost < 1 || max_lost > 1000) {
    std::cerr << "vitte-taskd: --max-lost-attempts must be in 1..1000\n";
    return 2;
  }
  options.coordinator.max_lost_attempts = static_cast<int32_t>(max_lost);
  if (max_message < 1024 || max_message > (1ll << 31) - 1) {
    std::cerr << "vitte-taskd: --max-message-bytes must be in 1024..2^31-1\n";
    return 2;
  }
  options.max_message_bytes = static_cast<int>(max_message);
  if (max_graph_tasks < 1 || max_graph_tasks > 100'000'000) {
    std::cerr << "vitte-taskd: --max-graph-tasks must be in 1..100000000\n";
    return 2;
  }
  options.coordinator.limits.max_tasks = max_graph_tasks;
  if (max_log_bytes < 0 || max_log_bytes > (int64_t{1} << 30)) {
    std::cerr << "vitte-taskd: --max-log-bytes must be in 0..1073741824\n";
    return 2;
  }
  options.coordinator.max_log_bytes = max_log_bytes;
  if (event_history < 1 || event_history > 100'000'000) {
    std::cerr << "vitte-taskd: --event-history must be in 1..100000000\n";
    return 2;
  }
  options.coordinator.event_history = static_cast<size_t>(event_history);
  if (options.coordinator.lease_timeout <= options.coordinator.heartbeat_interval) {
    std::cerr << "vitte-taskd: --lease-timeout must be longer than "
                 "--heartbeat-interval\n";
    return 2;
  }

  // Signals are taken by one thread with sigwait, so that every other
  // thread (gRPC's included) runs with them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = vitte::task::CoordinatorServer::Start(options);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return 1;
  }
  if (!port_file.empty() &&
      !vitte::task::WriteFileAtomically(port_file,
                                        absl::StrCat((*server)->port(), "\n"))
           .ok()) {
    spdlog::error("cannot write --port-file {}", port_file);
    return 1;
  }
  if (!http_port_file.empty() &&
      !vitte::task::WriteFileAtomically(
           http_port_file, absl::StrCat((*server)->http_port(), "\n"))
           .ok()) {
    spdlog::error("cannot write --http-port-file {}", http_port_file);
    return 1;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received {}, shutting down", strsignal(signal_number));
  (*server)->Shutdown();
  return 0;
}
