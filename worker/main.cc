// vitte-worker: runs tasks for a vitte-task coordinator.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/bearer_token.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "common/http_server.h"
#include "common/labels.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/metrics_http.h"
#include "common/tls.h"
#include "spdlog/spdlog.h"
#include "worker/noop_runner.h"
#include "worker/session.h"
#include "worker/tracing_runner.h"
#include "worker/worker.h"

namespace {

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "worker";
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  std::string coordinator = "127.0.0.1:7070";
  vitte::task::SessionOptions session;
  // 0 and "" stand for the machine's core count and host name, so that
  // --print-config and the shipped config file are the same everywhere.
  int64_t slots = 0;
  int64_t prefetch = 0;
  bool noop = false;
  std::string trace_file;
  std::string metrics_listen;
  std::string http_port_file;
  std::vector<std::string> labels;
  std::vector<std::string> serve_labels;
  std::string log_level = "info";
  std::string log_format = "text";
  absl::Duration drain_timeout = absl::Minutes(5);
  int64_t task_cpu_seconds = 0;
  int64_t task_memory_bytes = 0;
  int64_t task_open_files = 0;
  int64_t task_processes = 0;
  int64_t max_task_output_bytes = 0;
  std::vector<std::string> allowed_cwds;
  std::string run_as_user;
  vitte::task::FlagParser flags(
      "vitte-worker: runs vitte-task tasks on this machine.\n"
      "Usage: vitte-worker --coordinator HOST:PORT [--name NAME] [--slots N] "
      "[--label key=value]...\n"
      "                    [--serve-label key=value]...\n"
      "       vitte-worker --config FILE");
  // Every flag below can also be a key of the --config file.
  flags.AddConfigFileFlag("config");
  flags.AddPrintConfigFlag("print-config");
  flags.AddString("coordinator", &coordinator, "coordinator address host:port");
  vitte::task::ClientTlsOptions tls;
  vitte::task::AddClientTlsFlags(flags, tls, /*env_defaults=*/false);
  std::string token_file;
  vitte::task::AddTokenFileFlag(flags, token_file, /*env_defaults=*/false);
  flags.AddString("name", &session.name,
                  "worker name, unique in the farm; empty: the host name");
  flags.AddInt("slots", &slots, "tasks run at once; 0: the number of cores");
  flags.AddInt("prefetch", &prefetch,
              "tasks queued here beyond --slots, so that a slot that frees "
              "up starts its next task without waiting for the coordinator; "
              "worth it for tasks shorter than a few milliseconds");
  flags.AddBool("noop", &noop,
                "benchmarks only: report every task succeeded without "
                "running it");
  flags.AddString("trace-file", &trace_file,
                  "benchmarks only: at exit, write when each attempt started "
                  "and ended to this file");
  flags.AddString("metrics-listen", &metrics_listen,
                  "host:port to serve /metrics (Prometheus) on; port 0 picks "
                  "a free one (see --http-port-file); empty: no HTTP");
  vitte::task::HttpTlsOptions http_tls;
  vitte::task::AddHttpTlsFlags(flags, http_tls);
  flags.AddString("http-port-file", &http_port_file,
                  "write the bound HTTP port to this file once listening");
  flags.AddRepeated("label", &labels,
                    "key=value label offered to tasks; repeatable");
  flags.AddRepeated("serve-label", &serve_labels,
                    "key=value: take only tasks that require this label, "
                    "never unlabelled ones; implies --label key=value; "
                    "repeatable (a task must then require every one)");
  flags.AddDuration("drain-timeout", &drain_timeout,
                    "on SIGTERM, how long running tasks may take to finish "
                    "before they are stopped and handed back");
  flags.AddInt("task-cpu-seconds", &task_cpu_seconds,
               "CPU seconds a task's process may use (RLIMIT_CPU; SIGXCPU, "
               "then SIGKILL); 0: unchanged");
  flags.AddInt("task-memory-bytes", &task_memory_bytes,
               "address space of a task's process, in bytes (RLIMIT_AS): "
               "allocations past it fail; 0: unchanged");
  flags.AddInt("task-open-files", &task_open_files,
               "open files of a task's process (RLIMIT_NOFILE); 0: unchanged");
  flags.AddInt("task-processes", &task_processes,
               "processes of the task's user id, all of them, not only the "
               "task's (RLIMIT_NPROC; not enforced for root); 0: unchanged");
  flags.AddInt("max-task-output-bytes", &max_task_output_bytes,
               "kill a task once it wrote more than this many bytes to "
               "stdout and stderr together; 0: no limit");
  flags.AddRepeated("allowed-cwd", &allowed_cwds,
                    "directory tasks may run in (their cwd, symlinks "
                    "resolved, must be it or under it); repeatable; none: "
                    "any directory");
  flags.AddString("run-as-user", &run_as_user,
                  "run tasks as this user (the worker must run as root)");
  flags.AddString("log-level", &log_level,
                  "trace, debug, info, warn, error, critical or off");
  flags.AddString("log-format", &log_format,
                  "text, or json: one object per line for log collectors");
  if (std::optional<int> exit_code =
          flags.ParseOrExitCode(argc, argv, "vitte-worker")) {
    return *exit_code;
  }
  if (absl::Status s = vitte::task::SetUpLogging(log_level, log_format); !s.ok()) {
    std::cerr << "vitte-worker: " << s.message() << "\n";
    return 2;
  }
  if (slots < 0 || slots > 100'000) {
    std::cerr << "vitte-worker: --slots must be in 0..100000\n";
    return 2;
  }
  if (slots == 0) slots = std::max(1u, std::thread::hardware_concurrency());
  if (session.name.empty()) session.name = HostName();
  if (prefetch < 0 || prefetch > 100'000) {
    std::cerr << "vitte-worker: --prefetch must be in 0..100000\n";
    return 2;
  }
  session.prefetch = static_cast<int32_t>(prefetch);
  vitte::task::ProcessRunnerOptions runner_options;
  for (auto [name, value, out] :
       {std::tuple{"task-cpu-seconds", task_cpu_seconds,
                   &runner_options.limits.cpu_seconds},
        std::tuple{"task-memory-bytes", task_memory_bytes,
                   &runner_options.limits.memory_bytes},
        std::tuple{"task-open-files", task_open_files,
                   &runner_options.limits.open_files},
        std::tuple{"task-processes", task_processes,
                   &runner_options.limits.processes},
        std::tuple{"max-task-output-bytes", max_task_output_bytes,
                   &runner_options.max_output_bytes}}) {
    if (value < 0) {
      std::cerr << "vitte-worker: --" << name << " must be >= 0\n";
      return 2;
    }
    *out = static_cast<uint64_t>(value);
  }
  runner_options.allowed_cwds = allowed_cwds;
  if (!run_as_user.empty()) {
    if (noop) {
      std::cerr << "vitte-worker: --run-as-user and --noop exclude each "
                   "other\n";
      return 2;
    }
    absl::StatusOr<vitte::task::RunAsUser> user =
        vitte::task::LookUpRunAsUser(run_as_user);
    if (!user.ok()) {
      std::cerr << "vitte-worker: --run-as-user: " << user.status().message()
                << "\n";
      return 2;
    }
    runner_options.run_as = *std::move(user);
  }
  // --label and --serve-label values into `out`; false after telling why.
  auto parse_labels = [](const char* flag, const std::vector<std::string>& in,
                         vitte::task::Labels& out) {
    for (const std::string& label : in) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(label, absl::MaxSplits('=', 1));
      if (kv.first.empty() || label.find('=') == std::string::npos) {
        std::cerr << "vitte-worker: --" << flag << " wants key=value, got \""
                  << label << "\"\n";
        return false;
      }
      out[kv.first] = kv.second;
    }
    return true;
  };
  if (!parse_labels("label", labels, session.labels) ||
      !parse_labels("serve-label", serve_labels, session.serve_labels)) {
    return 2;
  }
  // The coordinator does the same merge and refuses a contradiction; here
  // it fails at start rather than at every reconnection.
  if (absl::Status merged =
          vitte::task::MergeServeLabels(session.serve_labels, session.labels);
      !merged.ok()) {
    std::cerr << "vitte-worker: " << merged.message() << "\n";
    return 2;
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(256 << 20);
  channel_args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  channel_args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  channel_args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Reconnection pacing is ours (session.h). gRPC's own channel backoff
  // would otherwise keep failing calls fast with the last "connection
  // refused" for seconds after a restarted coordinator is back.
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1'000);
  absl::StatusOr<std::string> token =
      vitte::task::LoadClientToken(token_file, /*use_env=*/false);
  if (!token.ok()) {
    std::cerr << "vitte-worker: " << token.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      vitte::task::MakeChannel(coordinator, tls, channel_args, *token);
  if (!channel.ok()) {
    std::cerr << "vitte-worker: " << channel.status().message() << "\n";
    return 2;
  }

  // Declared first: everything below records into it.
  vitte::task::MetricsRegistry metrics;
  if (noop) spdlog::warn("--noop: tasks are reported succeeded without running");
  absl::StatusOr<std::unique_ptr<vitte::task::CommandRunner>> runner =
      vitte::task::MakeCommandRunner(noop, &metrics, runner_options);
  if (!runner.ok()) {
    spdlog::error("cannot start the process runner: {}",
                  runner.status().ToString());
    return 1;
  }
  std::unique_ptr<vitte::task::TracingRunner> tracer;
  if (!trace_file.empty()) {
    tracer = std::make_unique<vitte::task::TracingRunner>(**runner, trace_file);
  }
  vitte::task::Worker worker(tracer ? *tracer : **runner,
                             static_cast<int>(slots), {}, &metrics,
                             session.serve_labels);
  session.metrics = &metrics;
  session.tls = tls;
  vitte::task::WorkerSession link(*channel, worker, session);
  // Declared after what it reads, so that it stops first.
  vitte::task::HttpServer http;
  if (!metrics_listen.empty()) {
    vitte::task::AddMetricsRoute(http, metrics);
    absl::StatusOr<int> port = http.Start(metrics_listen, http_tls);
    if (!port.ok()) {
      spdlog::error("cannot serve metrics: {}", port.status().ToString());
      return 1;
    }
    spdlog::info("serving /metrics on {} (port {}, {})", metrics_listen, *port,
                 http_tls.enabled() ? "HTTPS" : "HTTP");
    if (!http_port_file.empty()) {
      absl::Status written = vitte::task::WriteFileAtomically(
          http_port_file, absl::StrCat(*port, "\n"));
      if (!written.ok()) {
        spdlog::error("--http-port-file: {}", written.ToString());
        return 1;
      }
    }
  }
  spdlog::info("worker \"{}\" with {} slots, coordinator {} ({})",
               session.name, slots, coordinator,
               !tls.enabled()            ? "plain text"
               : tls.cert_file.empty() ? "TLS"
                                       : "TLS with a client certificate");
  if (!session.serve_labels.empty()) {
    spdlog::info("serving only tasks labelled {}",
                 vitte::task::FormatLabels(session.serve_labels, ","));
  }
  std::thread serving([&] { link.Run(); });

  // SIGTERM drains (the way service managers stop things); SIGINT, or a
  // second signal, stops at once and kills what still runs.
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  if (signal_number == SIGTERM) {
    link.Drain(drain_timeout);
    std::thread second([&] {
      int again = 0;
      sigwait(&stop_signals, &again);
      if (again != 0) link.Stop();
    });
    serving.join();
    pthread_kill(second.native_handle(), SIGINT);  // ends its sigwait
    second.join();
  } else {
    spdlog::info("received {}, stopping", strsignal(signal_number));
    link.Stop();
    serving.join();
  }
  return 0;
}
