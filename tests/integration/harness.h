// Integration test harness: starts the real vitte-taskd, vitte-worker and
// vitte-task binaries as child processes and talks to them only through
// their command lines, files and exit codes.
//
// Every child runs under a `Process` handle that SIGKILLs and reaps it on
// destruction (and dies with the test binary, via PR_SET_PDEATHSIG). Every
// wait is bounded. Each test gets its own temp dir, database and ephemeral
// port (127.0.0.1:0, then the port the daemon writes to --port-file).
//
// Nothing here is thread-safe: a test drives its processes from one thread.
#ifndef VITTE_TESTS_INTEGRATION_HARNESS_H_
#define VITTE_TESTS_INTEGRATION_HARNESS_H_

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::integration {

// The timings every vitte-taskd of the tests gets unless a test overrides
// them (see IntegrationTest::SetTaskdFlag); the products' defaults are
// meant for build farms and would make each lost worker cost 10 s.
inline constexpr int64_t kHarnessHeartbeatMs = 100;
inline constexpr int64_t kHarnessLeaseMs = 1000;
inline constexpr int64_t kHarnessRetryBackoffMs = 100;

// Paths of the binaries under test, from the build (compile definitions).
std::string TaskdPath();
std::string WorkerPath();
std::string CliPath();
// The source tree's examples/ directory.
std::string ExamplesDir();

// A child process whose stdout and stderr go to files. Destruction SIGKILLs
// it (if it still runs) and reaps it, so no test leaves a daemon behind.
class Process {
 public:
  // Starts argv[0] (a path, not looked up in PATH) with `env` added to (and
  // overriding) this process's environment. stdin is /dev/null; stdout and
  // stderr are written to `log_prefix` + ".out" / ".err". Fails if the
  // program cannot be executed.
  static absl::StatusOr<std::unique_ptr<Process>> Start(
      const std::vector<std::string>& argv, const std::string& log_prefix,
      const std::map<std::string, std::string>& env = {});

  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  // Sends `signal` to the process. FAILED_PRECONDITION once it was reaped.
  absl::Status Signal(int signal);

  // Waits at most `timeout` for the process to end. Returns its exit code
  // when it exited, or 128 + N when signal N killed it (the shell's
  // convention). DEADLINE_EXCEEDED if it still runs at the deadline (it is
  // left running).
  absl::StatusOr<int> WaitForExit(absl::Duration timeout);

  // True once the process has ended (reaps it without blocking).
  bool Exited();

  std::string Stdout() const;
  std::string Stderr() const;
  // The last lines of both logs, for failure messages.
  std::string LogsForDiagnosis() const;

 private:
  Process(pid_t pid, std::string out_path, std::string err_path);
  // Records a status from waitpid.
  void Reaped(int wait_status);

  pid_t pid_;
  std::string out_path_;
  std::string err_path_;
  // Set once reaped: the exit code in the convention of WaitForExit.
  std::optional<int> exit_code_;
};

// The outcome of one CLI run.
struct CliResult {
  // Exit code, 128 + N if killed by signal N, -1 if it could not run or did
  // not finish in time (a test failure has been recorded then).
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Records a test failure if `log` (a process's stderr) holds a report of
// AddressSanitizer, LeakSanitizer, UndefinedBehaviorSanitizer or
// ThreadSanitizer (builds with sanitizers, see .ci/sanitizers.sh). The
// harness checks every process it started; `who` names it.
void ExpectNoSanitizerReport(const std::string& log, const std::string& who);

// Tests of known product bugs start with
//   if (!RunKnownBugTests()) GTEST_SKIP() << "BUG: ...";
// Set VITTE_RUN_KNOWN_BUGS=1 to run them anyway (e.g. to check a fix).
bool RunKnownBugTests();

// Polls `condition` every 20 ms until it returns true or `timeout` passes.
// Returns whether it became true.
bool PollUntil(absl::Duration timeout, const std::function<bool()>& condition);

// Reads a whole file; empty if it does not exist.
std::string ReadFileOrEmpty(const std::string& path);
// The lines of a file, without their '\n'; empty if it does not exist.
std::vector<std::string> ReadLines(const std::string& path);
// Writes `content` to `path` (truncating); records a test failure if not.
void WriteFileOrFail(const std::string& path, const std::string& content);

// True while a process with this pid exists and is not a zombie.
bool ProcessAlive(pid_t pid);

// Parses JSON printed by the CLI (protobuf JSON) into `message`.
absl::Status ParseJson(const std::string& json,
                       google::protobuf::Message& message);
// The DAG file form of a graph spec.
std::string ToDagJson(const v1::GraphSpec& spec);

// Runs `PRAGMA integrity_check` on the SQLite file at `path`, opened
// read-only (so that the check itself changes nothing, not even a WAL
// checkpoint). Returns what SQLite answered ("ok" when the file is sound),
// or an error if it cannot be opened or queried.
absl::StatusOr<std::string> SqliteIntegrityCheck(const std::string& path);

// Builds a TaskSpec for the common cases.
v1::TaskSpec MakeTask(const std::string& id,
                      const std::vector<std::string>& command,
                      const std::vector<std::string>& deps = {});
// A task running `script` with sh -c.
v1::TaskSpec ShellTask(const std::string& id, const std::string& script,
                       const std::vector<std::string>& deps = {});

// Looks a task up by id; nullptr if absent.
const v1::Task* FindTask(const v1::Graph& graph, const std::string& id);
// The last attempt of a task, or an empty one.
v1::Attempt LastAttempt(const v1::Task& task);
// The first line of `text`, without its '\n'.
std::string FirstLine(const std::string& text);
// Milliseconds since the Unix epoch now, comparable with the times the
// daemon stamps on attempts (same machine, same clock).
int64_t NowMs();

// TLS files that the harness passes on (see IntegrationTest::SetTls). An
// empty path is not passed.
struct TlsFiles {
  // vitte-taskd: --tls-cert, --tls-key, --tls-client-ca.
  std::string server_cert;
  std::string server_key;
  std::string client_ca;
  // vitte-worker and vitte-task (Cli): --tls-ca, --tls-cert, --tls-key.
  std::string ca;
  std::string client_cert;
  std::string client_key;
};

// A test with its own temp dir, and helpers to run a coordinator, workers
// and the CLI in it. The temp dir is removed when the test passes and kept
// (its path is printed) when it fails, for the logs.
//
// TearDown SIGKILLs the workers, then stops a coordinator still running
// with SIGTERM and expects a clean stop: exit code 0, a sound database, and
// no sanitizer report in any process's log.
class IntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Absolute path of `name` inside the test's temp dir.
  std::string Path(const std::string& name) const;
  const std::string& dir() const { return dir_; }

  // Writes the DAG file `name` in the temp dir; returns its path.
  std::string WriteDag(const std::string& name, const v1::GraphSpec& spec);
  // A spec named `name` whose tasks run in the temp dir (unless they set a
  // cwd of their own).
  v1::GraphSpec Graph(const std::string& name,
                      const std::vector<v1::TaskSpec>& tasks) const;

  // Sets a flag (name without "--") of every vitte-taskd started from now
  // on; an empty value removes it. SetUp sets short timings so that tests
  // that lose a worker or restart the daemon stay fast:
  // --heartbeat-interval 100ms, --lease-timeout 1s, --retry-backoff 100ms.
  void SetTaskdFlag(const std::string& name, const std::string& value);
  // The value of a flag set with SetTaskdFlag (or by SetUp); empty if unset.
  std::string TaskdFlag(const std::string& name) const;
  // TLS flags for every vitte-taskd, vitte-worker and Cli() started from
  // now on (default: none, plain text). Tests that start a worker without
  // a client certificate set other files for that one start.
  void SetTls(TlsFiles files) { tls_ = std::move(files); }
  // Token files (--token-file) for every Cli() run and every worker
  // started from now on (default: none). An empty path is not passed.
  void SetTokenFiles(std::string client, std::string worker) {
    client_token_file_ = std::move(client);
    worker_token_file_ = std::move(worker);
  }

  // Starts vitte-taskd on 127.0.0.1:`port` (0: a free port) with `db`
  // (default: "coordinator.db" in the temp dir) and the flags of
  // SetTaskdFlag, waits up to 20 s for its port file and sets address() and
  // port(). Records a fatal failure (check with ASSERT_NO_FATAL_FAILURE) if
  // it does not come up.
  void StartCoordinator(const std::string& db = "", int port = 0);
  // Like StartCoordinator, but returns UNAVAILABLE (with the daemon's logs)
  // when the daemon exits at start, e.g. because it cannot bind the port.
  absl::Status TryStartCoordinator(const std::string& db, int port);
  // SIGKILLs the coordinator (a crash) and reaps it.
  void KillCoordinator();
  // SIGKILLs the coordinator and starts a new one on the same database and
  // the same port (StartCoordinatorOnSamePort).
  void RestartCoordinator();
  // Starts a coordinator on the database and port of the last one (which
  // must have ended), so that workers reconnect to it by themselves. A bind
  // that fails (the port not yet free) is retried, up to 10 s.
  void StartCoordinatorOnSamePort();
  // A coordinator and unlabelled workers (name, slots), all connected when
  // this returns.
  void StartCluster(const std::vector<std::pair<std::string, int>>& workers);
  Process& coordinator() { return *coordinator_; }
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // The daemon's HTTP port (/metrics, dashboard): it always serves HTTP on
  // an ephemeral loopback port in tests.
  int http_port() const { return http_port_; }
  // The database of the last coordinator started.
  const std::string& db_path() const { return db_path_; }

  // Starts a worker connected to address(). `labels` are key=value pairs;
  // `extra_args` are added to its command line (e.g. --drain-timeout). A
  // worker already running under `name` is SIGKILLed first.
  void StartWorker(const std::string& name, int slots,
                   const std::map<std::string, std::string>& labels = {},
                   const std::vector<std::string>& extra_args = {});
  Process& worker(const std::string& name) { return *workers_.at(name); }
  // Stops a worker with `signal` (SIGTERM drains it, SIGINT stops it at
  // once), waits up to `timeout` for it to exit 0, and forgets it.
  void StopWorker(const std::string& name, int signal = SIGTERM,
                  absl::Duration timeout = absl::Seconds(15));
  // SIGKILLs a worker (a crash) and reaps it; its task processes, in their
  // own process groups, go on. Its handle is kept for its logs.
  void KillWorker(const std::string& name);
  // `workers --output json`, parsed.
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers();
  // Waits up to 20 s until `workers --output json` lists every one of
  // `names` as connected. Fatal failure otherwise.
  void WaitForWorkers(const std::vector<std::string>& names);
  // Waits up to 20 s until worker `name` is connected with a session other
  // than `old_session`; returns the new session id (0, with a failure
  // recorded, if it did not come).
  uint64_t WaitForNewSession(const std::string& name, uint64_t old_session);
  // The session id of connected worker `name`, 0 if it is not connected.
  uint64_t SessionOf(const std::string& name);

  // Runs vitte-task with `args` (no --coordinator added), bounded by
  // `timeout`.
  CliResult RunCli(const std::vector<std::string>& args,
                   absl::Duration timeout = absl::Seconds(30),
                   const std::map<std::string, std::string>& env = {});
  // Runs vitte-task --coordinator address() (and the client flags of
  // SetTls) `args`.
  CliResult Cli(const std::vector<std::string>& args,
                absl::Duration timeout = absl::Seconds(30));
  // Runs vitte-taskd with `args` (e.g. `token create ...`), bounded by 30 s.
  CliResult RunTaskd(const std::vector<std::string>& args);
  // A token made by `vitte-taskd token create` on the coordinator's default
  // database (before or after it starts); returns its text. Records a
  // failure unless the command printed exactly one token on stdout.
  std::string CreateToken(const std::string& role, const std::string& name);
  // Writes `token` to NAME.token in the temp dir, readable by its owner
  // only; returns the path.
  std::string TokenFile(const std::string& name, const std::string& token);
  // `vitte-taskd token revoke NAME_OR_ID` on that database; fatal failure
  // if it fails.
  void Revoke(const std::string& name_or_id);
  // Starts vitte-task with `args` as a long-lived process (e.g. `run`).
  std::unique_ptr<Process> StartCli(const std::vector<std::string>& args);

  // `submit FILE` without --wait; returns the graph id printed (empty, with
  // a test failure recorded, if the submit failed).
  std::string Submit(const std::string& dag_path);
  // `status ID --attempts --output json`, parsed.
  absl::StatusOr<v1::Graph> GetGraph(const std::string& graph_id);
  // `list --output json`, parsed.
  absl::StatusOr<v1::ListGraphsResponse> ListGraphs();
  // Polls GetGraph until `condition` holds or `timeout` passes; returns the
  // last graph read (check the condition again in the test).
  v1::Graph PollGraph(const std::string& graph_id, absl::Duration timeout,
                      const std::function<bool(const v1::Graph&)>& condition);

  // Kills (SIGKILL) at tear-down the process whose pid is in `pid_file`, if
  // it is still a `sleep`: a safety net so that a test that fails (or a
  // product that leaks task processes) leaves nothing running.
  void KillAtTearDown(const std::string& pid_file);

 private:
  CliResult RunProgram(const std::string& program,
                       const std::vector<std::string>& args,
                       absl::Duration timeout,
                       const std::map<std::string, std::string>& env);

  std::string dir_;
  std::string client_token_file_;
  std::string worker_token_file_;
  int coordinator_starts_ = 0;
  int cli_runs_ = 0;
  int worker_starts_ = 0;
  std::unique_ptr<Process> coordinator_;
  std::string address_;
  int port_ = 0;
  int http_port_ = 0;
  std::string db_path_;
  std::map<std::string, std::string> taskd_flags_;
  TlsFiles tls_;
  std::map<std::string, std::unique_ptr<Process>> workers_;
  std::vector<std::string> pid_files_;
};

// The pid written to `path` by a task (`echo $$ > path`), or nullopt.
std::optional<pid_t> ReadPid(const std::string& path);

// Reads the port a daemon wrote to `path` (--port-file, --http-port-file)
// into *port; false while the file is missing or not a number yet.
bool ReadPortFile(const std::string& path, int* port);

}  // namespace vitte::task::integration

#endif  // VITTE_TESTS_INTEGRATION_HARNESS_H_
