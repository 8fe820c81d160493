// Tokens with roles on a real vitte-taskd run with --auth tokens: tokens
// made with `vitte-taskd token create` on its database, every RPC of both
// services called with every kind of caller, graphs changed only by their
// submitter or an admin, a worker's token revoked under it, rate limits,
// and no secret in any log, output or metric.
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/http_get.h"
#include "tests/integration/raw_call.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::integration {
namespace {

class AuthTest : public IntegrationTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(IntegrationTest::SetUp());
    SetTaskdFlag("auth", "tokens");
  }

  static RawMetadata Bearer(const std::string& token) {
    return {{"authorization", "Bearer " + token}};
  }
};

// The secret part of a token's text (what must never be shown).
std::string SecretOf(const std::string& token) {
  std::vector<std::string> parts = absl::StrSplit(token, '_');
  return parts.size() == 3 ? parts[2] : token;
}

// What each role may call, written out here rather than read from the
// product's table, so that a change of the table must change this test.
const std::map<std::string, std::set<std::string>>& AllowedByRole() {
  static const auto* allowed = new std::map<std::string, std::set<std::string>>{
      {"read",
       {"TaskService/GetGraph", "TaskService/ListGraphs",
        "TaskService/WatchGraph", "TaskService/FollowEvents",
        "TaskService/ListWorkers", "TaskService/GetLogs"}},
      {"submit",
       {"TaskService/GetGraph", "TaskService/ListGraphs",
        "TaskService/WatchGraph", "TaskService/FollowEvents",
        "TaskService/ListWorkers", "TaskService/GetLogs",
        "TaskService/SubmitGraph", "TaskService/CancelGraph",
        "TaskService/RetryGraph"}},
      {"admin",
       {"TaskService/GetGraph", "TaskService/ListGraphs",
        "TaskService/WatchGraph", "TaskService/FollowEvents",
        "TaskService/ListWorkers", "TaskService/GetLogs",
        "TaskService/SubmitGraph", "TaskService/CancelGraph",
        "TaskService/RetryGraph"}},
      {"worker", {"WorkerService/Connect"}},
  };
  return *allowed;
}

// A request for `method` that an allowed caller gets a quick answer to
// (an error, mostly): the point is only whether the call got past the
// token check. FollowEvents of an unknown graph ends at once, where
// following every graph would stay open.
std::string RequestFor(const std::string& method) {
  if (method == "FollowEvents") {
    v1::FollowEventsRequest r;
    r.set_graph_id("999999");
    return r.SerializeAsString();
  }
  return "";
}

TEST_F(AuthTest, EveryRpcIsAllowedToExactlyItsRoles) {
  std::map<std::string, std::string> tokens;
  for (const std::string role : {"read", "submit", "admin", "worker"}) {
    tokens[role] = CreateToken(role, role + "-token");
  }
  const std::string revoked = CreateToken("admin", "gone");
  ASSERT_NO_FATAL_FAILURE(Revoke("gone"));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());

  // A real token's id with another secret.
  std::string wrong_secret = tokens["admin"];
  wrong_secret.back() = wrong_secret.back() == '0' ? '1' : '0';

  struct Caller {
    std::string name;
    std::optional<std::string> authorization;
    std::string role;  // empty: not a valid token
  };
  const std::vector<Caller> callers = {
      {"no token", std::nullopt, ""},
      {"not a token", "Bearer hello", ""},
      {"not bearer", "Basic " + tokens["admin"], ""},
      {"wrong secret", "Bearer " + wrong_secret, ""},
      {"unknown", "Bearer vt1_0123456789abcdef_" + std::string(64, 'a'), ""},
      {"revoked", "Bearer " + revoked, ""},
      {"read", "Bearer " + tokens["read"], "read"},
      {"submit", "Bearer " + tokens["submit"], "submit"},
      {"admin", "Bearer " + tokens["admin"], "admin"},
      {"worker", "Bearer " + tokens["worker"], "worker"},
  };

  // Every method of both services, from the proto itself: a new RPC that
  // the table above does not place fails here.
  std::set<std::string> every_method;
  for (const char* service :
       {"vitte.task.v1.TaskService", "vitte.task.v1.WorkerService"}) {
    const google::protobuf::ServiceDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            service);
    ASSERT_NE(descriptor, nullptr) << service;
    for (int i = 0; i < descriptor->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* m = descriptor->method(i);
      const std::string key = absl::StrCat(descriptor->name(), "/", m->name());
      every_method.insert(key);
      const std::string path = absl::StrCat("/", service, "/", m->name());
      for (const Caller& caller : callers) {
        SCOPED_TRACE(absl::StrCat(key, " by ", caller.name));
        RawMetadata metadata;
        if (caller.authorization) {
          metadata = {{"authorization", *caller.authorization}};
        }
        RawReply reply;
        if (m->client_streaming()) {
          reply = RawStream(address(), path, {}, /*half_close=*/true, metadata);
        } else if (m->server_streaming()) {
          reply = RawStream(address(), path, {RequestFor(m->name())},
                            /*half_close=*/true, metadata);
        } else {
          reply = RawUnary(address(), path, RequestFor(m->name()), metadata);
        }
        const grpc::StatusCode code = reply.status.error_code();
        if (caller.role.empty()) {
          EXPECT_EQ(code, grpc::StatusCode::UNAUTHENTICATED)
              << reply.status.error_message();
        } else if (AllowedByRole().at(caller.role).count(key) == 0) {
          EXPECT_EQ(code, grpc::StatusCode::PERMISSION_DENIED)
              << reply.status.error_message();
          EXPECT_TRUE(absl::StrContains(reply.status.error_message(),
                                        "has role " + caller.role))
              << reply.status.error_message();
        } else {
          // Past the check: the answer is the method's own to these
          // empty requests (an empty list, or what is wrong with them).
          EXPECT_TRUE(code == grpc::StatusCode::OK ||
                      code == grpc::StatusCode::INVALID_ARGUMENT ||
                      code == grpc::StatusCode::NOT_FOUND)
              << code << " " << reply.status.error_message();
        }
      }
    }
  }
  std::set<std::string> placed;
  for (const auto& [role, methods] : AllowedByRole()) {
    placed.insert(methods.begin(), methods.end());
  }
  EXPECT_EQ(placed, every_method)
      << "the table of this test and the services' methods differ";

  // Health needs no token: load balancers probe it.
  RawReply health =
      RawUnary(address(), "/grpc.health.v1.Health/Check", "");
  EXPECT_TRUE(health.status.ok()) << health.status.error_message();

  // Each refusal was counted by its reason.
  absl::StatusOr<HttpReply> metrics = HttpGet(http_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  for (const char* reason :
       {"missing", "malformed", "unknown", "wrong_secret", "revoked"}) {
    EXPECT_TRUE(absl::StrContains(
        metrics->body,
        absl::StrCat("vitte_auth_failures_total{reason=\"", reason, "\"} ")))
        << reason;
    EXPECT_FALSE(absl::StrContains(
        metrics->body,
        absl::StrCat("vitte_auth_failures_total{reason=\"", reason, "\"} 0\n")))
        << reason << "\n" << metrics->body;
  }
  EXPECT_TRUE(absl::StrContains(
      metrics->body,
      "vitte_auth_denied_total{role=\"worker\",method=\"SubmitGraph\"} 1\n"))
      << metrics->body;
  // The CLI (TearDown lists workers) needs a token too.
  SetTokenFiles(TokenFile("admin", tokens["admin"]), "");
}

TEST_F(AuthTest, SubmitTokensChangeOnlyTheirOwnGraphs) {
  const std::string alice = TokenFile("alice", CreateToken("submit", "alice"));
  const std::string bob = TokenFile("bob", CreateToken("submit", "bob"));
  const std::string reader = TokenFile("reader", CreateToken("read", "reader"));
  const std::string admin = TokenFile("admin", CreateToken("admin", "admin"));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  // No worker: the graph stays running until cancelled.
  const std::string dag =
      WriteDag("g.json", Graph("g", {MakeTask("a", {"true"})}));

  SetTokenFiles(alice, "");
  CliResult first = Cli({"submit", dag, "--request-id", "ci-42"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string graph_id = FirstLine(first.out);
  ASSERT_FALSE(graph_id.empty());
  // Request ids are per token: bob's "ci-42" is a graph of his own, and
  // alice's names hers again.
  SetTokenFiles(bob, "");
  CliResult bobs = Cli({"submit", dag, "--request-id", "ci-42"});
  ASSERT_EQ(bobs.exit_code, 0) << bobs.err;
  EXPECT_NE(FirstLine(bobs.out), graph_id);
  EXPECT_FALSE(absl::StrContains(bobs.err, "matched graph")) << bobs.err;
  SetTokenFiles(alice, "");
  CliResult again = Cli({"submit", dag, "--request-id", "ci-42"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(FirstLine(again.out), graph_id);
  absl::StatusOr<v1::Graph> graph = GetGraph(graph_id);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->summary().owner(), "alice");

  SetTokenFiles(bob, "");
  CliResult r = Cli({"cancel", graph_id});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(
      r.err, "token \"bob\" (role submit) may not change graph " + graph_id +
                 ", submitted by \"alice\""))
      << r.err;
  SetTokenFiles(reader, "");
  r = Cli({"cancel", graph_id});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "has role read")) << r.err;
  r = Cli({"submit", dag});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "has role read")) << r.err;
  // Reading is what it may do.
  EXPECT_TRUE(GetGraph(graph_id).ok());

  SetTokenFiles(alice, "");
  r = Cli({"cancel", graph_id});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // Retrying the cancelled graph: not bob's to retry, an admin's.
  SetTokenFiles(bob, "");
  r = Cli({"retry", graph_id});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "may not change graph")) << r.err;
  SetTokenFiles(admin, "");
  r = Cli({"retry", graph_id});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Cli({"cancel", graph_id});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // The daemon's log tells who submitted, cancelled and retried.
  const std::string log = coordinator().Stderr();
  EXPECT_TRUE(absl::StrContains(
      log, "graph " + graph_id + " \"g\" submitted by token \"alice\""))
      << log;
  EXPECT_TRUE(absl::StrContains(
      log, "graph " + graph_id + ": cancel asked by token \"alice\""))
      << log;
  EXPECT_TRUE(absl::StrContains(
      log, "graph " + graph_id + ": retry asked by token \"admin\""))
      << log;

  // Without a token, the CLI says what is missing.
  SetTokenFiles("", "");
  r = Cli({"list"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "requires a token")) << r.err;
  SetTokenFiles(admin, "");
}

TEST_F(AuthTest, WorkersNeedAWorkerTokenAndARevokedOneEndsTheirSession) {
  const std::string admin_token = CreateToken("admin", "admin");
  const std::string worker_token = CreateToken("worker", "build-1");
  const std::string admin = TokenFile("admin", admin_token);
  const std::string worker_file = TokenFile("build-1", worker_token);
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());

  SetTokenFiles(admin, worker_file);
  ASSERT_NO_FATAL_FAILURE(StartWorker("build-1", 2));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"build-1"}));
  const std::string graph_id = Submit(
      WriteDag("g.json", Graph("g", {ShellTask("a", "echo hello")})));
  v1::Graph done =
      PollGraph(graph_id, absl::Seconds(20), [](const v1::Graph& g) {
        return g.summary().state() == v1::GRAPH_STATE_SUCCEEDED;
      });
  EXPECT_EQ(done.summary().state(), v1::GRAPH_STATE_SUCCEEDED)
      << done.DebugString();

  // A client's token does not open the worker service.
  SetTokenFiles(admin, admin);
  ASSERT_NO_FATAL_FAILURE(StartWorker("impostor", 1));
  EXPECT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return absl::StrContains(worker("impostor").Stderr(), "has role admin");
  })) << worker("impostor").Stderr();
  // A refused worker says so, and does not knock every second.
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return absl::StrContains(worker("impostor").Stderr(),
                             "refuses this worker's token or name");
  })) << worker("impostor").Stderr();
  absl::SleepFor(absl::Milliseconds(1500));
  const std::string impostor_log = worker("impostor").Stderr();
  size_t tries = 0;
  for (size_t at = impostor_log.find("session with the coordinator ended");
       at != std::string::npos;
       at = impostor_log.find("session with the coordinator ended", at + 1)) {
    ++tries;
  }
  EXPECT_EQ(tries, 1u) << impostor_log;
  // Nor does a worker's token open another worker's name.
  SetTokenFiles(admin, worker_file);
  ASSERT_NO_FATAL_FAILURE(StartWorker("build-2", 1));
  EXPECT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return absl::StrContains(
        worker("build-2").Stderr(),
        "token \"build-1\" may not register a worker named \"build-2\"");
  })) << worker("build-2").Stderr();

  // Revoked while connected: the session ends at the next sweep (2 s),
  // and does not come back.
  ASSERT_NO_FATAL_FAILURE(Revoke("build-1"));
  EXPECT_TRUE(PollUntil(absl::Seconds(20), [&] {
    absl::StatusOr<v1::ListWorkersResponse> workers = ListWorkers();
    if (!workers.ok()) return false;
    for (const v1::WorkerInfo& w : workers->workers()) {
      if (w.name() == "build-1" && w.connected()) return false;
    }
    return true;
  }));
  EXPECT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return absl::StrContains(worker("build-1").Stderr(), "was revoked");
  })) << worker("build-1").Stderr();
}

TEST_F(AuthTest, ARevokedTokenEndsItsEventStreams) {
  const std::string eve = TokenFile("eve", CreateToken("read", "eve"));
  const std::string admin = TokenFile("admin", CreateToken("admin", "admin"));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  std::unique_ptr<Process> watch = StartCli({"--coordinator", address(),
                                             "--token-file", eve, "watch",
                                             "--output", "json"});
  ASSERT_NE(watch, nullptr);
  // Following from now on: its first (empty) batch says it is there.
  ASSERT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return absl::StrContains(watch->Stdout(), "\"cursor\"");
  })) << watch->Stderr();
  SetTokenFiles(admin, "");
  const std::string graph_id =
      Submit(WriteDag("g.json", Graph("g", {MakeTask("a", {"true"})})));
  // The follower of every graph sees it.
  EXPECT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return absl::StrContains(watch->Stdout(), "\"graph_id\":\"" + graph_id);
  })) << watch->Stdout();
  ASSERT_NO_FATAL_FAILURE(Revoke("eve"));
  absl::StatusOr<int> code = watch->WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << "the stream of a revoked token went on";
  EXPECT_NE(*code, 0);
  EXPECT_TRUE(absl::StrContains(watch->Stderr(), "revoked")) << watch->Stderr();
}

TEST_F(AuthTest, EachTokenIsHeldToItsRate) {
  SetTaskdFlag("token-rate-limit", "2");  // bursts of 4
  const std::string reader = CreateToken("read", "reader");
  const std::string other = CreateToken("read", "other");
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  int ok = 0;
  int exhausted = 0;
  for (int i = 0; i < 20; ++i) {
    RawReply r = RawUnary(address(), "/vitte.task.v1.TaskService/ListGraphs",
                          "", Bearer(reader));
    if (r.status.ok()) ++ok;
    if (r.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++exhausted;
      EXPECT_TRUE(absl::StrContains(r.status.error_message(),
                                    "token \"reader\" is over its rate"))
          << r.status.error_message();
    }
  }
  EXPECT_GE(ok, 4);
  EXPECT_GT(exhausted, 0);
  EXPECT_EQ(ok + exhausted, 20);
  // Another token is not slowed by the first one.
  RawReply r = RawUnary(address(), "/vitte.task.v1.TaskService/ListGraphs", "",
                        Bearer(other));
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  absl::StatusOr<HttpReply> metrics = HttpGet(http_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(absl::StrContains(
      metrics->body,
      absl::StrCat("vitte_auth_rate_limited_total{token=\"reader\"} ",
                   exhausted, "\n")))
      << metrics->body;
  SetTokenFiles(TokenFile("other", other), "");
}

TEST_F(AuthTest, TheDashboardApiAsksForTheSameTokens) {
  const std::string reader = CreateToken("read", "dash");
  const std::string worker = CreateToken("worker", "build-1");
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  const std::vector<std::string> api = {
      "/api/graphs", "/api/graphs/1", "/api/graphs/1/estimate",
      "/api/graphs/1/events?wait_ms=0", "/api/events?wait_ms=0",
      "/api/graphs/1/tasks/a", "/api/graphs/1/tasks/a/logs", "/api/workers"};
  for (const std::string& path : api) {
    SCOPED_TRACE(path);
    absl::StatusOr<HttpReply> none = HttpGet(http_port(), path);
    ASSERT_TRUE(none.ok()) << none.status();
    EXPECT_EQ(none->status, 401) << none->body;
    EXPECT_TRUE(absl::StrContains(none->body, "requires a token")) << none->body;
    absl::StatusOr<HttpReply> as_worker = HttpGet(
        http_port(), path, absl::Seconds(10),
        {{"Authorization", "Bearer " + worker}});
    ASSERT_TRUE(as_worker.ok()) << as_worker.status();
    EXPECT_EQ(as_worker->status, 403) << as_worker->body;
    absl::StatusOr<HttpReply> as_reader = HttpGet(
        http_port(), path, absl::Seconds(10),
        {{"Authorization", "Bearer " + reader}});
    ASSERT_TRUE(as_reader.ok()) << as_reader.status();
    // Past the check: no graph 1 yet, but the list and the workers answer.
    EXPECT_NE(as_reader->status, 401) << as_reader->body;
    EXPECT_NE(as_reader->status, 403) << as_reader->body;
    if (path == "/api/graphs" || path == "/api/workers") {
      EXPECT_EQ(as_reader->status, 200) << as_reader->body;
    }
  }
  // The page, its files, the metrics and the health check are public.
  for (const std::string path : {"/", "/static/app.js", "/metrics", "/healthz"}) {
    absl::StatusOr<HttpReply> reply = HttpGet(http_port(), path);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, 200) << path;
  }
  SetTokenFiles(TokenFile("dash", reader), "");
}

// Run as root on a daemon's state directory, the token command works as
// the directory's owner, the daemon's user: the files it makes are that
// user's, and a symlink planted there reaches nothing that user could not.
TEST_F(AuthTest, TokenCommandAsRootWorksAsTheDaemonsUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string state = Path("state");
  ASSERT_EQ(mkdir(state.c_str(), 0700), 0);
  ASSERT_EQ(chown(state.c_str(), 65534, 65534), 0);  // nobody
  CliResult r = RunTaskd({"token", "create", "--db", state + "/vitte.db",
                          "--role", "admin", "--name", "root"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "created the database")) << r.err;
  for (const std::string file : {"/vitte.db", "/vitte.db.lock"}) {
    struct stat st;
    ASSERT_EQ(stat((state + file).c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_uid, 65534u) << file;
  }
  // A second command on it works too, and lists the token.
  r = RunTaskd({"token", "list", "--db", state + "/vitte.db"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, " root ")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "admin")) << r.out;

  // The daemon's user plants a symlink to a file of root's: the command
  // cannot open it, and changes nothing of it.
  const std::string victim = Path("victim");
  WriteFileOrFail(victim, "root's\n");
  ASSERT_EQ(chmod(victim.c_str(), 0600), 0);
  ASSERT_EQ(unlink((state + "/vitte.db.lock").c_str()), 0);
  ASSERT_EQ(symlink(victim.c_str(), (state + "/vitte.db.lock").c_str()), 0);
  r = RunTaskd({"token", "list", "--db", state + "/vitte.db"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "cannot open lock file")) << r.err;
  struct stat st;
  ASSERT_EQ(stat(victim.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(ReadFileOrEmpty(victim), "root's\n");
}

TEST_F(AuthTest, NoSecretInLogsOutputsOrMetrics) {
  const std::string admin_token = CreateToken("admin", "admin");
  const std::string worker_token = CreateToken("worker", "build-1");
  const std::string revoked_token = CreateToken("submit", "old");
  ASSERT_NO_FATAL_FAILURE(Revoke("old"));
  std::string wrong = admin_token;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  SetTaskdFlag("log-level", "debug");
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  SetTokenFiles(TokenFile("admin", admin_token),
                TokenFile("build-1", worker_token));
  ASSERT_NO_FATAL_FAILURE(StartWorker("build-1", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"build-1"}));
  const std::string graph_id =
      Submit(WriteDag("g.json", Graph("g", {ShellTask("a", "echo hi")})));
  PollGraph(graph_id, absl::Seconds(20), [](const v1::Graph& g) {
    return g.summary().state() == v1::GRAPH_STATE_SUCCEEDED;
  });
  // Refused tries, each logged: over a second apart, since refusals are
  // logged at most once a second.
  const std::pair<RawMetadata, std::string> refused[] = {
      {Bearer(wrong), "wrong_secret"},
      {Bearer(revoked_token), "revoked"},
      {{{"authorization", "Bearer not-a-token-but-a-password"}}, "malformed"},
  };
  for (const auto& [metadata, reason] : refused) {
    RawReply r = RawUnary(address(), "/vitte.task.v1.TaskService/ListGraphs",
                          "", metadata);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] {
      return absl::StrContains(coordinator().Stderr(),
                               "authentication failed: reason=" + reason);
    })) << coordinator().Stderr();
    absl::SleepFor(absl::Milliseconds(1100));
  }

  std::vector<std::pair<std::string, std::string>> seen = {
      {"daemon log", coordinator().Stderr()},
      {"worker log", worker("build-1").Stderr()},
      {"status", Cli({"status", graph_id, "--attempts"}).out},
      {"status json", Cli({"status", graph_id, "--output", "json"}).out},
      {"list json", Cli({"list", "--output", "json"}).out},
      {"workers json", Cli({"workers", "--output", "json"}).out},
      {"token list",
       RunTaskd({"token", "list", "--db", Path("coordinator.db")}).out},
      {"token list json", RunTaskd({"token", "list", "--db",
                                    Path("coordinator.db"), "--output", "json"})
                              .out},
  };
  absl::StatusOr<HttpReply> metrics = HttpGet(http_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  seen.emplace_back("metrics", metrics->body);
  // The daemon's log does name the ids and the names, which open nothing.
  EXPECT_TRUE(absl::StrContains(coordinator().Stderr(),
                                "token_id=" + admin_token.substr(4, 16)));
  for (const std::string& secret :
       {SecretOf(admin_token), SecretOf(worker_token),
        SecretOf(revoked_token), SecretOf(wrong),
        std::string("not-a-token-but-a-password")}) {
    for (const auto& [what, text] : seen) {
      EXPECT_FALSE(absl::StrContains(text, secret))
          << what << " shows a secret";
    }
  }
}

}  // namespace
}  // namespace vitte::task::integration
