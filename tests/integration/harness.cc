#include "tests/integration/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "sqlite3.h"

extern char** environ;

namespace vitte::task::integration {

std::string TaskdPath() { return VITTE_TASKD; }
std::string WorkerPath() { return VITTE_WORKER; }
std::string CliPath() { return VITTE_CLI; }
std::string ExamplesDir() { return VITTE_EXAMPLES_DIR; }

// ---------------------------------------------------------------------------
// Process
// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Process>> Process::Start(
    const std::vector<std::string>& argv, const std::string& log_prefix,
    const std::map<std::string, std::string>& env) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::string out_path = log_prefix + ".out";
  std::string err_path = log_prefix + ".err";

  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(*e, absl::MaxSplits('=', 1));
    merged[kv.first] = kv.second;
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged)
    env_strings.push_back(absl::StrCat(k, "=", v));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out_fd =
      open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd =
      open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int exec_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {null_fd, out_fd, err_fd, exec_pipe[0], exec_pipe[1]}) {
      if (fd >= 0) close(fd);
    }
  };
  if (null_fd < 0 || out_fd < 0 || err_fd < 0 ||
      pipe2(exec_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    close_all();
    return absl::InternalError(
        absl::StrCat("cannot set up logs ", log_prefix, ": ", strerror(err)));
  }

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close_all();
    return absl::InternalError(absl::StrCat("fork: ", strerror(err)));
  }
  if (pid == 0) {
    // The child dies with the test binary, even if that one is SIGKILLed
    // (e.g. by a ctest timeout), so no daemon outlives its test.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    // Its own process group: the handle kills the group, and a ^C on the
    // terminal reaches the test binary only.
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    dup2(null_fd, STDIN_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execve(args[0], args.data(), envp.data());
    int err = errno;
    ssize_t ignored = write(exec_pipe[1], &err, sizeof(err));
    (void)ignored;
    _exit(127);
  }
  close(exec_pipe[1]);
  exec_pipe[1] = -1;
  // Returns 0 bytes once exec succeeded (the pipe is close-on-exec), or the
  // child's errno.
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(exec_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close_all();
  if (n > 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    return absl::InternalError(
        absl::StrCat("cannot execute ", argv[0], ": ", strerror(child_errno)));
  }
  return std::unique_ptr<Process>(
      new Process(pid, std::move(out_path), std::move(err_path)));
}

Process::Process(pid_t pid, std::string out_path, std::string err_path)
    : pid_(pid),
      out_path_(std::move(out_path)),
      err_path_(std::move(err_path)) {}

Process::~Process() {
  // The whole group: the process and whatever it left in its group.
  kill(-pid_, SIGKILL);
  if (!exit_code_.has_value()) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void Process::Reaped(int wait_status) {
  if (WIFEXITED(wait_status)) {
    exit_code_ = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    exit_code_ = 128 + WTERMSIG(wait_status);
  } else {
    exit_code_ = -1;
  }
}

absl::Status Process::Signal(int signal) {
  if (exit_code_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid_, " already ended"));
  }
  if (kill(pid_, signal) != 0) {
    return absl::InternalError(
        absl::StrCat("kill(", pid_, "): ", strerror(errno)));
  }
  return absl::OkStatus();
}

bool Process::Exited() {
  if (exit_code_.has_value()) return true;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) Reaped(status);
  return exit_code_.has_value();
}

absl::StatusOr<int> Process::WaitForExit(absl::Duration timeout) {
  if (PollUntil(timeout, [&] { return Exited(); })) return *exit_code_;
  return absl::DeadlineExceededError(
      absl::StrCat("process ", pid_, " still running after ",
                   absl::FormatDuration(timeout)));
}

std::string Process::Stdout() const { return ReadFileOrEmpty(out_path_); }
std::string Process::Stderr() const { return ReadFileOrEmpty(err_path_); }

std::string Process::LogsForDiagnosis() const {
  auto tail = [](const std::string& text) {
    std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
    if (lines.size() > 40) lines.erase(lines.begin(), lines.end() - 40);
    return absl::StrJoin(lines, "\n");
  };
  return absl::StrCat("--- stdout (", out_path_, ")\n", tail(Stdout()),
                      "\n--- stderr (", err_path_, ")\n", tail(Stderr()));
}

// ---------------------------------------------------------------------------
// Free helpers
// ---------------------------------------------------------------------------

void ExpectNoSanitizerReport(const std::string& log, const std::string& who) {
  for (const char* marker :
       {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
        "WARNING: ThreadSanitizer"}) {
    size_t at = log.find(marker);
    if (at == std::string::npos) continue;
    ADD_FAILURE() << who << " reported a sanitizer error:\n"
                  << log.substr(at > 200 ? at - 200 : 0, 4000);
    return;
  }
}

bool RunKnownBugTests() {
  const char* env = std::getenv("VITTE_RUN_KNOWN_BUGS");
  return env != nullptr && std::string(env) == "1";
}

bool PollUntil(absl::Duration timeout, const std::function<bool()>& condition) {
  // A monotonic clock: a wall-clock step must not cut a wait short.
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::string content = ReadFileOrEmpty(path);
  std::vector<std::string> lines;
  if (content.empty()) return lines;
  lines = absl::StrSplit(absl::StripSuffix(content, "\n"), '\n');
  return lines;
}

void WriteFileOrFail(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.flush();
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

bool ProcessAlive(pid_t pid) {
  std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  if (stat.empty()) return false;
  // "pid (comm) S ...": the state follows the last ')'.
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

std::optional<pid_t> ReadPid(const std::string& path) {
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(path)),
                        &pid) ||
      pid <= 1) {
    return std::nullopt;
  }
  return pid;
}

bool ReadPortFile(const std::string& path, int* port) {
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(path)),
                          port);
}

absl::Status ParseJson(const std::string& json,
                       google::protobuf::Message& message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status =
      google::protobuf::util::JsonStringToMessage(json, &message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse ", message.GetTypeName(),
                     " from JSON: ", status.message().as_string(), "\n", json));
  }
  return absl::OkStatus();
}

std::string ToDagJson(const v1::GraphSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  std::string out;
  auto status =
      google::protobuf::util::MessageToJsonString(spec, &out, options);
  if (!status.ok())
    ADD_FAILURE() << "cannot print DAG JSON: " << status.ToString();
  return out;
}

absl::StatusOr<std::string> SqliteIntegrityCheck(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("no database ", path));
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  // The handle is closed on every path, even when the open failed.
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> closer(db, sqlite3_close);
  if (rc != SQLITE_OK) {
    return absl::InternalError(
        absl::StrCat("cannot open ", path, ": ", sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> finalizer(
      stmt, sqlite3_finalize);
  if (rc != SQLITE_OK) {
    return absl::InternalError(
        absl::StrCat("integrity_check on ", path, ": ", sqlite3_errmsg(db)));
  }
  std::vector<std::string> rows;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    rows.push_back(text == nullptr ? "" : reinterpret_cast<const char*>(text));
  }
  if (rc != SQLITE_DONE) {
    return absl::InternalError(
        absl::StrCat("integrity_check on ", path, ": ", sqlite3_errmsg(db)));
  }
  return absl::StrJoin(rows, "\n");
}

v1::TaskSpec MakeTask(const std::string& id,
                      const std::vector<std::string>& command,
                      const std::vector<std::string>& deps) {
  v1::TaskSpec t;
  t.set_id(id);
  for (const std::string& c : command) t.add_command(c);
  for (const std::string& d : deps) t.add_deps(d);
  return t;
}

v1::TaskSpec ShellTask(const std::string& id, const std::string& script,
                       const std::vector<std::string>& deps) {
  return MakeTask(id, {"sh", "-c", script}, deps);
}

const v1::Task* FindTask(const v1::Graph& graph, const std::string& id) {
  for (const v1::Task& t : graph.tasks()) {
    if (t.spec().id() == id) return &t;
  }
  return nullptr;
}

v1::Attempt LastAttempt(const v1::Task& task) {
  if (task.attempts_size() == 0) return v1::Attempt();
  return task.attempts(task.attempts_size() - 1);
}

std::string FirstLine(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// ---------------------------------------------------------------------------
// IntegrationTest
// ---------------------------------------------------------------------------

namespace {

// Adds `--flag path` for each non-empty path.
void AddFileFlags(
    std::vector<std::string>& argv,
    const std::vector<std::pair<std::string, std::string>>& flags) {
  for (const auto& [flag, path] : flags) {
    if (path.empty()) continue;
    argv.push_back(flag);
    argv.push_back(path);
  }
}

// The flags of a worker or of the CLI.
void AddClientTlsFlags(std::vector<std::string>& argv, const TlsFiles& tls) {
  AddFileFlags(argv, {{"--tls-ca", tls.ca},
                      {"--tls-cert", tls.client_cert},
                      {"--tls-key", tls.client_key}});
}

}  // namespace

void IntegrationTest::SetUp() {
  std::string pattern =
      (std::filesystem::path(::testing::TempDir()) / "vitte_it_XXXXXX")
          .string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp " << pattern;
  dir_ = pattern;
  // Short timings (the defaults are meant for build farms): a lost worker
  // is noticed within seconds, and a restarted daemon waits at most that
  // long for its workers.
  taskd_flags_ = {
      {"heartbeat-interval", absl::StrCat(kHarnessHeartbeatMs, "ms")},
      {"lease-timeout", absl::StrCat(kHarnessLeaseMs, "ms")},
      {"retry-backoff", absl::StrCat(kHarnessRetryBackoffMs, "ms")}};
}

void IntegrationTest::SetTaskdFlag(const std::string& name,
                                   const std::string& value) {
  if (value.empty()) {
    taskd_flags_.erase(name);
  } else {
    taskd_flags_[name] = value;
  }
}

std::string IntegrationTest::TaskdFlag(const std::string& name) const {
  auto it = taskd_flags_.find(name);
  return it == taskd_flags_.end() ? "" : it->second;
}

void IntegrationTest::TearDown() {
  // Workers before the coordinator, so they do not log reconnection noise.
  for (const auto& [name, w] : workers_) {
    ExpectNoSanitizerReport(w->Stderr(), absl::StrCat("vitte-worker ", name));
  }
  workers_.clear();
  // The daemon is stopped the way a service manager stops it: SIGTERM must
  // end it cleanly (exit 0, no sanitizer report, e.g. no leak) and leave a
  // sound database.
  if (coordinator_ != nullptr && !coordinator_->Exited()) {
    EXPECT_TRUE(coordinator_->Signal(SIGTERM).ok());
    absl::StatusOr<int> code = coordinator_->WaitForExit(absl::Seconds(20));
    EXPECT_TRUE(code.ok()) << "vitte-taskd ignored SIGTERM\n"
                           << coordinator_->LogsForDiagnosis();
    if (code.ok()) {
      EXPECT_EQ(*code, 0) << coordinator_->LogsForDiagnosis();
      absl::StatusOr<std::string> check = SqliteIntegrityCheck(db_path_);
      EXPECT_TRUE(check.ok() && *check == "ok")
          << "after SIGTERM: "
          << (check.ok() ? *check : check.status().ToString());
    }
  }
  if (coordinator_ != nullptr) {
    ExpectNoSanitizerReport(coordinator_->Stderr(), "vitte-taskd");
  }
  coordinator_.reset();
  for (const std::string& pid_file : pid_files_) {
    std::optional<pid_t> pid = ReadPid(pid_file);
    if (!pid || !ProcessAlive(*pid)) continue;
    std::string cmdline =
        ReadFileOrEmpty(absl::StrCat("/proc/", *pid, "/cmdline"));
    if (absl::StartsWith(cmdline, std::string("sleep\0", 6)))
      kill(*pid, SIGKILL);
  }
  if (HasFailure()) {
    std::cerr << "test files kept in " << dir_ << "\n";
  } else if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string IntegrationTest::Path(const std::string& name) const {
  return (std::filesystem::path(dir_) / name).string();
}

std::string IntegrationTest::WriteDag(const std::string& name,
                                      const v1::GraphSpec& spec) {
  std::string path = Path(name);
  WriteFileOrFail(path, ToDagJson(spec));
  return path;
}

v1::GraphSpec IntegrationTest::Graph(
    const std::string& name, const std::vector<v1::TaskSpec>& tasks) const {
  v1::GraphSpec spec;
  spec.set_name(name);
  for (const v1::TaskSpec& t : tasks) {
    v1::TaskSpec* added = spec.add_tasks();
    *added = t;
    if (added->cwd().empty()) added->set_cwd(dir());
  }
  return spec;
}

void IntegrationTest::StartCluster(
    const std::vector<std::pair<std::string, int>>& workers) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  std::vector<std::string> names;
  for (const auto& [name, slots] : workers) {
    ASSERT_NO_FATAL_FAILURE(StartWorker(name, slots));
    names.push_back(name);
  }
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers(names));
}

void IntegrationTest::StartCoordinator(const std::string& db, int port) {
  absl::Status started = TryStartCoordinator(db, port);
  ASSERT_TRUE(started.ok()) << started;
}

absl::Status IntegrationTest::TryStartCoordinator(const std::string& db,
                                                  int port) {
  const int n = ++coordinator_starts_;
  const std::string port_file = Path(absl::StrCat("taskd.", n, ".port"));
  const std::string http_port_file =
      Path(absl::StrCat("taskd.", n, ".http_port"));
  db_path_ = db.empty() ? Path("coordinator.db") : db;
  std::vector<std::string> argv = {
      TaskdPath(),      "--listen",       absl::StrCat("127.0.0.1:", port),
      "--db",           db_path_,         "--port-file",
      port_file,        "--metrics-listen", "127.0.0.1:0",
      "--http-port-file", http_port_file, "--log-level",
      "info"};
  for (const auto& [flag, value] : taskd_flags_) {
    argv.push_back(absl::StrCat("--", flag));
    argv.push_back(value);
  }
  AddFileFlags(argv, {{"--tls-cert", tls_.server_cert},
                      {"--tls-key", tls_.server_key},
                      {"--tls-client-ca", tls_.client_ca}});
  auto process = Process::Start(argv, Path(absl::StrCat("taskd.", n)));
  if (!process.ok()) return process.status();
  coordinator_ = std::move(*process);
  int bound = 0;
  int http_bound = 0;
  // The HTTP port file is written after the gRPC one.
  bool up = PollUntil(absl::Seconds(20), [&] {
    if (coordinator_->Exited()) return true;
    return ReadPortFile(port_file, &bound) &&
           ReadPortFile(http_port_file, &http_bound);
  });
  if (!up) {
    return absl::DeadlineExceededError(
        absl::StrCat("vitte-taskd wrote no port file in 20 s\n",
                     coordinator_->LogsForDiagnosis()));
  }
  if (coordinator_->Exited()) {
    std::string logs = coordinator_->LogsForDiagnosis();
    coordinator_.reset();
    return absl::UnavailableError(
        absl::StrCat("vitte-taskd exited at start\n", logs));
  }
  if (bound <= 0 || bound >= 65536 || (port != 0 && bound != port)) {
    return absl::InternalError(absl::StrCat("vitte-taskd wrote port \"",
                                            ReadFileOrEmpty(port_file), "\""));
  }
  port_ = bound;
  http_port_ = http_bound;
  address_ = absl::StrCat("127.0.0.1:", bound);
  return absl::OkStatus();
}

void IntegrationTest::KillCoordinator() {
  ASSERT_NE(coordinator_, nullptr);
  ASSERT_TRUE(coordinator_->Signal(SIGKILL).ok());
  auto code = coordinator_->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  ExpectNoSanitizerReport(coordinator_->Stderr(), "vitte-taskd");
  coordinator_.reset();
}

void IntegrationTest::RestartCoordinator() {
  ASSERT_NO_FATAL_FAILURE(KillCoordinator());
  ASSERT_NO_FATAL_FAILURE(StartCoordinatorOnSamePort());
}

void IntegrationTest::StartCoordinatorOnSamePort() {
  ASSERT_GT(port_, 0) << "start the coordinator first";
  ASSERT_EQ(coordinator_, nullptr) << "the coordinator still runs";
  const std::string db = db_path_;
  const int port = port_;
  absl::Status last;
  // The port is normally free as soon as the old daemon is reaped; a bind
  // that still fails is retried (each failed start takes some time).
  bool started = PollUntil(absl::Seconds(10), [&] {
    last = TryStartCoordinator(db, port);
    return last.ok();
  });
  ASSERT_TRUE(started) << "cannot restart vitte-taskd on port " << port << ": "
                       << last;
}

void IntegrationTest::StartWorker(
    const std::string& name, int slots,
    const std::map<std::string, std::string>& labels,
    const std::vector<std::string>& extra_args) {
  ASSERT_FALSE(address_.empty()) << "start the coordinator first";
  std::vector<std::string> argv = {
      WorkerPath(), "--coordinator",     address_,      "--name", name,
      "--slots",    absl::StrCat(slots), "--log-level", "info"};
  for (const auto& [k, v] : labels) {
    argv.push_back("--label");
    argv.push_back(absl::StrCat(k, "=", v));
  }
  AddClientTlsFlags(argv, tls_);
  AddFileFlags(argv, {{"--token-file", worker_token_file_}});
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  // A namesake still running is killed (and reaped) before the new one
  // starts, as a machine that reboots would.
  if (auto old = workers_.find(name); old != workers_.end()) {
    ExpectNoSanitizerReport(old->second->Stderr(),
                            absl::StrCat("vitte-worker ", name));
    workers_.erase(old);
  }
  auto process = Process::Start(
      argv, Path(absl::StrCat("worker.", name, ".", ++worker_starts_)));
  ASSERT_TRUE(process.ok()) << process.status();
  workers_[name] = std::move(*process);
}

void IntegrationTest::StopWorker(const std::string& name, int signal,
                                 absl::Duration timeout) {
  auto it = workers_.find(name);
  ASSERT_NE(it, workers_.end()) << "no worker " << name;
  ASSERT_TRUE(it->second->Signal(signal).ok());
  auto code = it->second->WaitForExit(timeout);
  ASSERT_TRUE(code.ok()) << "worker " << name << " did not stop on signal "
                         << signal << ": " << code.status() << "\n"
                         << it->second->LogsForDiagnosis();
  EXPECT_EQ(*code, 0) << it->second->LogsForDiagnosis();
  ExpectNoSanitizerReport(it->second->Stderr(),
                          absl::StrCat("vitte-worker ", name));
  workers_.erase(it);
}

void IntegrationTest::KillWorker(const std::string& name) {
  auto it = workers_.find(name);
  ASSERT_NE(it, workers_.end()) << "no worker " << name;
  ASSERT_TRUE(it->second->Signal(SIGKILL).ok());
  auto code = it->second->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
}

absl::StatusOr<v1::ListWorkersResponse> IntegrationTest::ListWorkers() {
  CliResult r = Cli({"workers", "--output", "json"}, absl::Seconds(10));
  if (r.exit_code != 0) {
    return absl::UnknownError(
        absl::StrCat("workers exited ", r.exit_code, ": ", r.err));
  }
  v1::ListWorkersResponse workers;
  absl::Status s = ParseJson(r.out, workers);
  if (!s.ok()) return s;
  return workers;
}

uint64_t IntegrationTest::SessionOf(const std::string& name) {
  absl::StatusOr<v1::ListWorkersResponse> workers = ListWorkers();
  if (!workers.ok()) return 0;
  for (const v1::WorkerInfo& w : workers->workers()) {
    if (w.name() == name && w.connected()) return w.session_id();
  }
  return 0;
}

uint64_t IntegrationTest::WaitForNewSession(const std::string& name,
                                            uint64_t old_session) {
  uint64_t session = 0;
  bool found = PollUntil(absl::Seconds(20), [&] {
    session = SessionOf(name);
    return session != 0 && session != old_session;
  });
  if (!found) {
    ADD_FAILURE() << "worker " << name << " has no new session after 20 s";
    return 0;
  }
  return session;
}

void IntegrationTest::WaitForWorkers(const std::vector<std::string>& names) {
  std::string last;
  bool all = PollUntil(absl::Seconds(20), [&] {
    absl::StatusOr<v1::ListWorkersResponse> workers = ListWorkers();
    if (!workers.ok()) {
      last = workers.status().ToString();
      return false;
    }
    last = workers->DebugString();
    for (const std::string& name : names) {
      bool found =
          std::any_of(workers->workers().begin(), workers->workers().end(),
                      [&](const v1::WorkerInfo& w) {
                        return w.name() == name && w.connected();
                      });
      if (!found) return false;
    }
    return true;
  });
  ASSERT_TRUE(all) << "workers " << absl::StrJoin(names, ", ")
                   << " not all connected after 20 s; last answer:\n"
                   << last;
}

std::unique_ptr<Process> IntegrationTest::StartCli(
    const std::vector<std::string>& args) {
  std::vector<std::string> argv = {CliPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto process = Process::Start(argv, Path(absl::StrCat("cli.", ++cli_runs_)));
  if (!process.ok()) {
    ADD_FAILURE() << process.status();
    return nullptr;
  }
  return std::move(*process);
}

CliResult IntegrationTest::RunProgram(
    const std::string& program, const std::vector<std::string>& args,
    absl::Duration timeout, const std::map<std::string, std::string>& env) {
  CliResult result;
  std::vector<std::string> argv = {program};
  argv.insert(argv.end(), args.begin(), args.end());
  auto process =
      Process::Start(argv, Path(absl::StrCat("cli.", ++cli_runs_)), env);
  if (!process.ok()) {
    ADD_FAILURE() << process.status();
    return result;
  }
  auto code = (*process)->WaitForExit(timeout);
  result.out = (*process)->Stdout();
  result.err = (*process)->Stderr();
  ExpectNoSanitizerReport(result.err, program);
  if (!code.ok()) {
    ADD_FAILURE() << program << " " << absl::StrJoin(args, " ")
                  << " did not finish in " << absl::FormatDuration(timeout)
                  << "\n"
                  << (*process)->LogsForDiagnosis();
    return result;
  }
  result.exit_code = *code;
  return result;
}

CliResult IntegrationTest::RunCli(
    const std::vector<std::string>& args, absl::Duration timeout,
    const std::map<std::string, std::string>& env) {
  return RunProgram(CliPath(), args, timeout, env);
}

CliResult IntegrationTest::RunTaskd(const std::vector<std::string>& args) {
  return RunProgram(TaskdPath(), args, absl::Seconds(30), {});
}

std::string IntegrationTest::CreateToken(const std::string& role,
                                         const std::string& name) {
  CliResult r = RunTaskd({"token", "create", "--db", Path("coordinator.db"),
                          "--role", role, "--name", name});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string token = FirstLine(r.out);
  EXPECT_TRUE(absl::StartsWith(token, "vt1_")) << r.out;
  // Only the token on stdout: `> file` keeps exactly it.
  EXPECT_EQ(r.out, token + "\n");
  return token;
}

std::string IntegrationTest::TokenFile(const std::string& name,
                                       const std::string& token) {
  std::string path = Path(name + ".token");
  WriteFileOrFail(path, token + "\n");
  EXPECT_EQ(chmod(path.c_str(), 0600), 0) << path;
  return path;
}

void IntegrationTest::Revoke(const std::string& name_or_id) {
  CliResult r = RunTaskd(
      {"token", "revoke", name_or_id, "--db", Path("coordinator.db")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

CliResult IntegrationTest::Cli(const std::vector<std::string>& args,
                               absl::Duration timeout) {
  std::vector<std::string> full = {"--coordinator", address_};
  AddClientTlsFlags(full, tls_);
  AddFileFlags(full, {{"--token-file", client_token_file_}});
  full.insert(full.end(), args.begin(), args.end());
  return RunCli(full, timeout);
}

std::string IntegrationTest::Submit(const std::string& dag_path) {
  CliResult r = Cli({"submit", dag_path});
  if (r.exit_code != 0) {
    ADD_FAILURE() << "submit " << dag_path << " exited " << r.exit_code << ": "
                  << r.err;
    return "";
  }
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  if (lines.empty() || lines[0].empty()) {
    ADD_FAILURE() << "submit printed no graph id: " << r.out;
    return "";
  }
  return lines[0];
}

absl::StatusOr<v1::Graph> IntegrationTest::GetGraph(
    const std::string& graph_id) {
  CliResult r = Cli({"status", graph_id, "--attempts", "--output", "json"});
  if (r.exit_code != 0) {
    return absl::UnknownError(absl::StrCat("status ", graph_id, " exited ",
                                           r.exit_code, ": ", r.err));
  }
  v1::Graph graph;
  absl::Status s = ParseJson(r.out, graph);
  if (!s.ok()) return s;
  return graph;
}

absl::StatusOr<v1::ListGraphsResponse> IntegrationTest::ListGraphs() {
  CliResult r = Cli({"list", "--output", "json"});
  if (r.exit_code != 0) {
    return absl::UnknownError(
        absl::StrCat("list exited ", r.exit_code, ": ", r.err));
  }
  v1::ListGraphsResponse list;
  absl::Status s = ParseJson(r.out, list);
  if (!s.ok()) return s;
  return list;
}

v1::Graph IntegrationTest::PollGraph(
    const std::string& graph_id, absl::Duration timeout,
    const std::function<bool(const v1::Graph&)>& condition) {
  v1::Graph last;
  PollUntil(timeout, [&] {
    absl::StatusOr<v1::Graph> g = GetGraph(graph_id);
    if (!g.ok()) return false;
    last = std::move(*g);
    return condition(last);
  });
  return last;
}

void IntegrationTest::KillAtTearDown(const std::string& pid_file) {
  pid_files_.push_back(pid_file);
}

}  // namespace vitte::task::integration
