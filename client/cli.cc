#include "client/cli.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli_follow.h"
#include "absl/time/clock.h"
#include "client/cli_output.h"
#include "client/graph_export.h"
#include "client/client.h"
#include "common/bearer_token.h"
#include "common/flags.h"
#include "common/logging.h"
#include "coordinator/server.h"
#include "worker/noop_runner.h"
#include "worker/session.h"
#include "worker/worker.h"

namespace vitte::task {
namespace {

constexpr char kUsage[] =
    "vitte-task: submit and follow task graphs on a vitte-task coordinator.\n"
    "\n"
    "Usage: vitte-task COMMAND [ARGS] [FLAGS]\n"
    "\n"
    "Commands:\n"
    "  submit FILE.json [--wait]   submit a DAG file; prints the graph id\n"
    "  status GRAPH_ID             state of every task of a graph\n"
    "  watch [GRAPH_ID] [--after SEQ]\n"
    "                              follow a graph until it finishes (live on "
    "a\n"
    "                              terminal), or every graph; resumable\n"
    "  list                        recent graphs\n"
    "  cancel GRAPH_ID [TASK...]   cancel a graph, or some of its tasks\n"
    "  retry GRAPH_ID              run the failed part of a finished graph "
    "again\n"
    "  workers                     connected workers\n"
    "  logs GRAPH_ID TASK_ID [--attempt N] [-f] [--stream stdout|stderr|both]\n"
    "                              a task's output (stdout and stderr)\n"
    "  graph GRAPH_ID|FILE.json [--format dot|mermaid|json]\n"
    "                              the DAG with its task states, to draw\n"
    "  run FILE.json [--jobs N] [--db PATH] [--noop]\n"
    "                              run a DAG file on this machine, no daemon\n"
    "\n"
    "The coordinator is --coordinator, else $VITTE_COORDINATOR, else "
    "127.0.0.1:7070.\n"
    "TLS: --tls-ca FILE (else $VITTE_TLS_CA) verifies the coordinator; "
    "--tls-cert and\n"
    "--tls-key ($VITTE_TLS_CERT, $VITTE_TLS_KEY) are this side's, for a "
    "coordinator that\n"
    "wants client certificates; --tls-server-name ($VITTE_TLS_SERVER_NAME).\n"
    "Tokens: --token-file FILE (else $VITTE_TOKEN_FILE, else the token in "
    "$VITTE_TOKEN),\n"
    "for a coordinator run with --auth tokens.";

// Everything the flags can say; each command reads what concerns it.
struct Options {
  std::string coordinator;
  ClientTlsOptions tls;
  std::string token_file;
  bool wait = false;
  std::string request_id;
  std::string output = "text";
  int64_t jobs = 0;
  std::string db;
  bool noop = false;
  std::string format = "dot";
  int64_t limit = 20;
  int64_t after = 0;
  bool attempts = false;
  std::string log_level = "warn";
  int64_t attempt = 0;
  bool follow = false;
  std::string stream = "both";
};

// A client of --coordinator with the TLS and token options. Fails for TLS
// flags that do not go together, or files that cannot be used.
absl::StatusOr<std::unique_ptr<Client>> ConnectClient(const Options& o) {
  absl::StatusOr<std::string> token =
      LoadClientToken(o.token_file, /*use_env=*/true);
  if (!token.ok()) return token.status();
  return Client::Connect(o.coordinator, o.tls, *token);
}

int Usage(absl::string_view message) {
  std::cerr << "vitte-task: " << message << "\n(see vitte-task --help)\n";
  return 2;
}

int Submit(Client& client, const std::vector<std::string>& args,
           const Options& o) {
  if (args.size() != 1) return Usage("submit takes one DAG file");
  absl::StatusOr<v1::GraphSpec> spec = ReadGraphFile(args[0]);
  if (!spec.ok()) return Fail(spec.status());
  auto submitted = client.Submit(*spec, o.request_id);
  if (!submitted.ok()) return Fail(submitted.status());
  std::cout << submitted->graph_id() << std::endl;
  if (!submitted->created()) {
    std::cerr << "request id \"" << o.request_id << "\" matched graph "
              << submitted->graph_id() << ", which was submitted before\n";
  }
  // stdout has the graph id; progress goes to stderr.
  return o.wait ? FollowGraph(client, submitted->graph_id(), 0,
                              FollowStyleFor(STDERR_FILENO, false), std::cerr)
                : 0;
}

int Status(Client& client, const std::vector<std::string>& args,
           const Options& o) {
  if (args.size() != 1) return Usage("status takes one graph id");
  auto graph = client.GetGraph(args[0], o.attempts);
  if (!graph.ok()) return Fail(graph.status());
  if (o.output == "json") {
    std::cout << ToJson(*graph);
  } else {
    PrintGraphStatus(std::cout, *graph);
  }
  return 0;
}

// A submitted graph (with its states) or a DAG file (without), drawn.
int Graph(const std::vector<std::string>& args,
          const Options& o) {
  if (args.size() != 1) return Usage("graph takes one graph id or DAG file");
  absl::StatusOr<GraphFormat> format = ParseGraphFormat(o.format);
  if (!format.ok()) return Usage(format.status().message());
  v1::Graph graph;
  std::error_code ec;
  if (std::filesystem::is_regular_file(args[0], ec)) {
    absl::StatusOr<v1::GraphSpec> spec = ReadGraphFile(args[0]);
    if (!spec.ok()) return Fail(spec.status());
    graph = GraphOfSpec(*spec);
  } else {
    absl::StatusOr<std::unique_ptr<Client>> client = ConnectClient(o);
    if (!client.ok()) return Fail(client.status());
    absl::StatusOr<v1::Graph> got = (*client)->GetGraph(args[0], false);
    if (!got.ok()) return Fail(got.status());
    graph = *std::move(got);
  }
  std::cout << ExportGraph(graph, *format);
  return 0;
}

int List(Client& client, const std::vector<std::string>& args,
         const Options& o) {
  if (!args.empty()) return Usage("list takes no argument");
  auto graphs = client.ListGraphs(static_cast<int>(o.limit));
  if (!graphs.ok()) return Fail(graphs.status());
  if (o.output == "json") {
    v1::ListGraphsResponse all;
    for (auto& g : *graphs) *all.add_graphs() = std::move(g);
    std::cout << ToJson(all);
  } else {
    PrintGraphList(std::cout, *graphs);
  }
  return 0;
}

int Workers(Client& client, const std::vector<std::string>& args,
            const Options& o) {
  if (!args.empty()) return Usage("workers takes no argument");
  auto workers = client.ListWorkers();
  if (!workers.ok()) return Fail(workers.status());
  if (o.output == "json") {
    v1::ListWorkersResponse all;
    for (auto& w : *workers) *all.add_workers() = std::move(w);
    std::cout << ToJson(all);
  } else {
    PrintWorkers(std::cout, *workers);
  }
  return 0;
}

int Cancel(Client& client, const std::vector<std::string>& args) {
  if (args.empty()) return Usage("cancel takes a graph id and optional task ids");
  auto cancelled = client.Cancel(
      args[0], std::vector<std::string>(args.begin() + 1, args.end()));
  if (!cancelled.ok()) return Fail(cancelled.status());
  std::cout << "cancelled " << *cancelled << " task(s) of graph " << args[0]
            << "\n";
  return 0;
}

int Retry(Client& client, const std::vector<std::string>& args,
          const Options& o) {
  if (args.size() != 1) return Usage("retry takes one graph id");
  auto retried = client.Retry(args[0]);
  if (!retried.ok()) return Fail(retried.status());
  std::cerr << "graph " << args[0] << ": " << *retried
            << " task(s) will run again\n";
  return o.wait ? FollowGraph(client, args[0], 0,
                              FollowStyleFor(STDERR_FILENO, false), std::cerr)
                : 0;
}

// Prints an attempt's output: the task's stdout to stdout, its stderr to
// stderr. With --follow, polls until the attempt ended and everything is
// printed; a coordinator that restarts meanwhile is waited for.
int Logs(Client& client, const std::vector<std::string>& args,
         const Options& o) {
  if (args.size() != 2) return Usage("logs takes a graph id and a task id");
  if (o.attempt < 0 || o.attempt > 1'000'000) {
    return Usage("--attempt must be an attempt number (1, 2, ...; 0 = the "
                 "latest)");
  }
  v1::GetLogsRequest request;
  request.set_graph_id(args[0]);
  request.set_task_id(args[1]);
  request.set_attempt(static_cast<int32_t>(o.attempt));
  if (o.stream == "stdout") {
    request.set_streams(v1::LOG_STREAMS_STDOUT);
  } else if (o.stream == "stderr") {
    request.set_streams(v1::LOG_STREAMS_STDERR);
  } else if (o.stream == "both") {
    request.set_streams(v1::LOG_STREAMS_BOTH);
  } else {
    return Usage("--stream must be stdout, stderr or both");
  }
  const bool json = o.output == "json";
  const absl::Duration kPollInterval = absl::Milliseconds(250);
  const absl::Duration kUnreachableFor = absl::Seconds(60);
  v1::GetLogsResponse all;
  absl::Time reached = absl::Now();
  while (true) {
    absl::StatusOr<v1::GetLogsResponse> got = client.GetLogs(request);
    if (!got.ok()) {
      if (o.follow && absl::IsUnavailable(got.status()) &&
          absl::Now() - reached < kUnreachableFor) {
        absl::SleepFor(kPollInterval);
        continue;
      }
      return Fail(got.status());
    }
    reached = absl::Now();
    // From now on this attempt, even if asked for the latest: a retry that
    // starts meanwhile must not switch attempts under the cursor.
    request.set_attempt(got->attempt());
    request.set_cursor(got->next_cursor());
    if (json) {
      std::string out = all.stdout_log().data() + got->stdout_log().data();
      std::string err = all.stderr_log().data() + got->stderr_log().data();
      bool out_cut = all.stdout_log().truncated() || got->stdout_log().truncated();
      bool err_cut = all.stderr_log().truncated() || got->stderr_log().truncated();
      all = *std::move(got);
      all.mutable_stdout_log()->set_data(std::move(out));
      all.mutable_stdout_log()->set_truncated(out_cut);
      all.mutable_stderr_log()->set_data(std::move(err));
      all.mutable_stderr_log()->set_truncated(err_cut);
    } else {
      std::cout << got->stdout_log().data() << std::flush;
      std::cerr << got->stderr_log().data() << std::flush;
      all.set_finished(got->finished());
      all.set_more(got->more());
    }
    if (all.finished()) break;
    if (all.more()) continue;
    if (!o.follow) break;
    absl::SleepFor(kPollInterval);
  }
  if (json) {
    std::cout << LogsJson(args[0], args[1], all,
                          request.streams() != v1::LOG_STREAMS_STDERR,
                          request.streams() != v1::LOG_STREAMS_STDOUT);
  }
  return 0;
}

// FNV-1a: a stable digest of the DAG file, so that `run` finds the graph of
// an interrupted run of the same file in the same database.
uint64_t Fingerprint(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

int Run(const std::vector<std::string>& args, const Options& o) {
  if (args.size() != 1) return Usage("run takes one DAG file");
  std::ifstream in(args[0], std::ios::binary);
  if (!in) return Fail(absl::NotFoundError(absl::StrCat("cannot open \"", args[0], "\"")));
  std::stringstream content;
  content << in.rdbuf();
  absl::StatusOr<v1::GraphSpec> spec = ParseGraphJson(content.str());
  if (!spec.ok()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(args[0], ": ", spec.status().message())));
  }
  int64_t jobs = o.jobs > 0 ? o.jobs : std::thread::hardware_concurrency();
  if (jobs <= 0 || jobs > 100'000) return Usage("--jobs must be in 1..100000");

  // Without --db the run lives in a scratch database and cannot resume.
  std::string db = o.db;
  std::string scratch;
  if (db.empty()) {
    std::error_code ec;
    std::filesystem::path tmp = std::filesystem::temp_directory_path(ec);
    if (ec) tmp = "/tmp";
    std::string pattern = (tmp / "vitte-run-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return Fail(absl::InternalError("cannot create a temporary directory"));
    }
    scratch = pattern;
    db = scratch + "/run.db";
  }

  // Ctrl-C must not leave task processes behind: take the signal on a
  // thread of ours and tear down in order.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ServerOptions server_options;
  server_options.listen = "";  // in-process only
  server_options.db_path = db;
  auto server = CoordinatorServer::Start(server_options);
  if (!server.ok()) return Fail(server.status());
  absl::StatusOr<std::unique_ptr<CommandRunner>> runner =
      MakeCommandRunner(o.noop);
  if (!runner.ok()) return Fail(runner.status());
  int exit_code = 1;
  {
    Worker worker(**runner, static_cast<int>(jobs));
    SessionOptions session_options;
    session_options.name = "local";
    // The only worker, on this machine: a queue costs no fairness, and a
    // deep one keeps the slots busy with short tasks while results wait
    // for their commit.
    session_options.prefetch = static_cast<int32_t>(std::max<int64_t>(jobs, 64));
    WorkerSession session((*server)->InProcessChannel(), worker,
                          session_options);
    std::thread serving([&] { session.Run(); });

    // On a signal, stop the coordinator: the watch below ends, and leaving
    // this scope kills the task processes (Worker's destructor). Attempts
    // stay running in the database, so a resumed run re-queues them.
    std::atomic<bool> finished = false;
    std::atomic<int> interrupt_signal = 0;
    std::thread signals([&] {
      int signal_number = 0;
      sigwait(&stop_signals, &signal_number);
      if (finished) return;
      interrupt_signal = signal_number;
      std::cerr << "interrupted: stopping running tasks"
                << (o.db.empty() ? "" : "; run again with the same --db to resume")
                << std::endl;
      session.Stop();
      (*server)->Shutdown(absl::Seconds(1));
    });

    Client client((*server)->InProcessChannel());
    auto submitted = client.Submit(
        *spec, absl::StrCat("run:", absl::Hex(Fingerprint(content.str()))));
    if (!submitted.ok()) {
      exit_code = Fail(submitted.status());
    } else {
      if (!submitted->created()) {
        std::cerr << "resuming graph " << submitted->graph_id() << " from "
                  << db << "\n";
        // A finished graph that did not succeed runs its failed part again
        // (the succeeded tasks keep their results).
        auto retried = client.Retry(submitted->graph_id());
        if (retried.ok()) {
          std::cerr << *retried << " task(s) that did not succeed will run "
                    << "again\n";
        }
      }
      exit_code = FollowGraph(client, submitted->graph_id(), 0,
                              FollowStyleFor(STDERR_FILENO, false), std::cerr,
                              /*reconnect_for=*/absl::ZeroDuration());
    }
    finished = true;
    pthread_kill(signals.native_handle(), SIGTERM);  // ends its sigwait
    signals.join();
    if (interrupt_signal != 0) exit_code = 128 + interrupt_signal;
    session.Stop();
    serving.join();
  }
  (*server)->Shutdown();
  if (!scratch.empty()) {
    std::error_code ignored;  // a scratch dir left behind is harmless
    std::filesystem::remove_all(scratch, ignored);
  }
  return exit_code;
}

}  // namespace

int RunCli(int argc, char** argv) {
  Options o;
  o.coordinator = "127.0.0.1:7070";
  // Flags override these; a CLI used against one coordinator all day keeps
  // its settings in the environment.
  if (const char* env = std::getenv("VITTE_COORDINATOR"); env && *env) {
    o.coordinator = env;
  }
  ReadClientTlsEnv(o.tls);
  FlagParser flags(kUsage);
  flags.AddString("coordinator", &o.coordinator, "coordinator host:port");
  AddClientTlsFlags(flags, o.tls, /*env_defaults=*/true);
  AddTokenFileFlag(flags, o.token_file, /*env_defaults=*/true);
  flags.AddBool("wait", &o.wait,
                "submit, retry: follow the graph to its end; exit 0 only if "
                "every task succeeded");
  flags.AddString("request-id", &o.request_id,
                  "submit: idempotency key; a resubmit with the same key "
                  "returns the same graph");
  flags.AddString("output", &o.output,
                  "status, list, workers, watch, logs: text or json (watch: one "
                  "EventBatch per line)");
  flags.AddInt("after", &o.after,
               "watch: resume after this event sequence number (a batch's "
               "cursor)");
  flags.AddInt("attempt", &o.attempt,
               "logs: attempt number (1 for the first); 0 = the latest");
  flags.AddBool("follow", &o.follow,
                "logs (also -f): follow a running attempt until it ends");
  flags.AddString("stream", &o.stream, "logs: stdout, stderr or both");
  flags.AddBool("attempts", &o.attempts, "status: include every attempt");
  flags.AddInt("limit", &o.limit, "list: how many graphs");
  flags.AddInt("jobs", &o.jobs, "run: tasks at once (default: number of cores)");
  flags.AddString("format", &o.format, "graph: dot, mermaid or json");
  flags.AddBool("noop", &o.noop,
                "run, benchmarks only: report every task succeeded without "
                "running it");
  flags.AddString("db", &o.db,
                  "run: database to keep the run in; running the same file "
                  "again with the same --db resumes it");
  flags.AddString("log-level", &o.log_level,
                  "trace, debug, info, warn, error, critical or off");
  // -f is the one short flag (as in tail -f); the parser knows long ones.
  std::vector<std::string> arg_strings(argv, argv + argc);
  std::vector<char*> arg_ptrs;
  for (std::string& a : arg_strings) {
    if (a == "-f") a = "--follow";
    arg_ptrs.push_back(a.data());
  }
  auto args = flags.Parse(argc, arg_ptrs.data());
  if (flags.help_requested() || (args.ok() && args->empty())) {
    std::cout << flags.Help();
    return args.ok() && !args->empty() ? 0 : (flags.help_requested() ? 0 : 2);
  }
  if (!args.ok()) return Usage(args.status().message());
  if (o.output != "text" && o.output != "json") {
    return Usage("--output must be text or json");
  }
  if (absl::Status s = SetUpLogging(o.log_level); !s.ok()) {
    return Usage(s.message());
  }
  const std::string command = args->front();
  std::vector<std::string> rest(args->begin() + 1, args->end());
  if (command == "run") return Run(rest, o);
  if (command == "graph") return Graph(rest, o);

  absl::StatusOr<std::unique_ptr<Client>> connected = ConnectClient(o);
  // TLS flags that do not go together, or files that cannot be used.
  if (!connected.ok()) return Fail(connected.status());
  std::unique_ptr<Client> client = *std::move(connected);
  if (command == "submit") return Submit(*client, rest, o);
  if (command == "status") return Status(*client, rest, o);
  if (command == "watch") {
    if (rest.size() > 1) return Usage("watch takes at most one graph id");
    if (o.after < 0) return Usage("--after must be a sequence number");
    return FollowGraph(*client, rest.empty() ? "" : rest[0],
                       static_cast<uint64_t>(o.after),
                       FollowStyleFor(STDOUT_FILENO, o.output == "json"),
                       std::cout);
  }
  if (command == "list") return List(*client, rest, o);
  if (command == "cancel") return Cancel(*client, rest);
  if (command == "workers") return Workers(*client, rest, o);
  if (command == "retry") return Retry(*client, rest, o);
  if (command == "logs") return Logs(*client, rest, o);
  return Usage(absl::StrCat("unknown command \"", command, "\""));
}

}  // namespace vitte::task
