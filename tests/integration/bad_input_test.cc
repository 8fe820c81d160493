// Bad input never takes the daemon down: absurd graphs, oversized
// messages, unknown ids and malformed protobufs from a misbehaving client or
// worker each get a clear refusal, and afterwards the daemon still serves
// and its database is sound.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/raw_call.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task::integration {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Bytes that are no protobuf message: a varint tag that never ends.
const std::string kGarbage(16, '\xff');
// A length-delimited field 1 announcing 100 bytes and carrying 3.
const std::string kTruncated(
    "\x0a\x64"
    "abc",
    5);

// An error message a person can read: not an echo of a megabyte of input.
constexpr size_t kReadableMessageBytes = 2000;

std::string Serialized(const google::protobuf::Message& m) {
  return m.SerializeAsString();
}

class BadInputTest : public IntegrationTest {
 protected:
  // The daemon still runs, serves a graph end to end, and its database is
  // sound.
  void ExpectStillServing() {
    ASSERT_FALSE(coordinator().Exited()) << coordinator().LogsForDiagnosis();
    const std::string dag =
        WriteDag(absl::StrCat("still-serving-", ++checks_, ".json"),
                 Graph("still-serving", {ShellTask("t", "echo ok")}));
    CliResult r = Cli({"submit", dag, "--wait"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    absl::StatusOr<std::string> check = SqliteIntegrityCheck(db_path());
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_EQ(*check, "ok");
  }

  // Submits the DAG file `path` and expects a refusal that says `message`
  // in a readable way, with nothing stored.
  void ExpectSubmitRefused(const std::string& path,
                           const std::string& message) {
    CliResult r = Cli({"submit", path}, absl::Seconds(60));
    EXPECT_EQ(r.exit_code, 1) << r.err.substr(0, kReadableMessageBytes);
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, HasSubstr(message))
        << r.err.substr(0, kReadableMessageBytes);
    EXPECT_LT(r.err.size(), kReadableMessageBytes)
        << "the refusal echoes the input: "
        << r.err.substr(0, kReadableMessageBytes);
  }

  int checks_ = 0;
};

TEST_F(BadInputTest, OversizedIdsAndNamesAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string huge(1 << 20, 'x');

  ExpectSubmitRefused(
      WriteDag("id.json", Graph("big-id", {MakeTask(huge, {"true"})})),
      "is longer than the limit of 256 bytes");
  {
    SCOPED_TRACE("1 MB graph name");
    ExpectSubmitRefused(
        WriteDag("name.json", Graph(huge, {MakeTask("a", {"true"})})),
        "graph name is 1048576 bytes long");
  }

  absl::StatusOr<v1::ListGraphsResponse> list = ListGraphs();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->graphs_size(), 0);
  ExpectStillServing();
}

// Refusals that name a piece of huge input must stay readable.
TEST_F(BadInputTest, RefusalsOfHugeInputAreReadable) {

  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string huge(1 << 20, 'x');
  {
    SCOPED_TRACE("1 MB dependency id");
    ExpectSubmitRefused(
        WriteDag("dep.json",
                 Graph("big-dep", {MakeTask("a", {"true"}, {huge})})),
        "task \"a\" depends on unknown task");
  }
  {
    SCOPED_TRACE("1 MB env name");
    v1::TaskSpec t = MakeTask("a", {"true"});
    (*t.mutable_env())[huge + "="] = "v";
    ExpectSubmitRefused(WriteDag("env.json", Graph("big-env", {t})),
                        "invalid environment variable name");
  }
  {
    SCOPED_TRACE("100 kB task id to cancel");
    const std::string id =
        Submit(WriteDag("g.json", Graph("g", {ShellTask("t", "sleep 0.1")})));
    CliResult r = Cli({"cancel", id, std::string(100'000, 'y')});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("has no task"));
    EXPECT_LT(r.err.size(), kReadableMessageBytes);
  }
  ExpectStillServing();
}

TEST_F(BadInputTest, TaskWithAMillionDepsIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  // Written by hand: building the proto and printing it is much slower.
  std::string json = R"({"tasks": [{"id": "a", "command": ["true"], "deps": [)";
  json.reserve(12 << 20);
  for (int i = 0; i < 1'000'000; ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ",", "\"d", i, "\"");
  }
  json += "]}]}";
  const std::string path = Path("million.json");
  WriteFileOrFail(path, json);
  ExpectSubmitRefused(path,
                      "task \"a\" has 1000000 dependencies, more than the "
                      "limit of 10000");
  ExpectStillServing();
}

TEST_F(BadInputTest, GraphOverMaxGraphTasksIsRefused) {
  SetTaskdFlag("max-graph-tasks", "3");
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string dag = WriteDag(
      "four.json", Graph("four", {MakeTask("a", {"true"}), MakeTask("b", {"true"}),
                                  MakeTask("c", {"true"}), MakeTask("d", {"true"})}));
  ExpectSubmitRefused(dag, "more than the limit of 3 tasks");
  const std::string three = WriteDag(
      "three.json", Graph("three", {MakeTask("a", {"true"}), MakeTask("b", {"true"}),
                                    MakeTask("c", {"true"})}));
  EXPECT_FALSE(Submit(three).empty());
  ExpectStillServing();
}

TEST_F(BadInputTest, MessageOverMaxMessageBytesIsRefused) {
  SetTaskdFlag("max-message-bytes", "100000");
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  // 200 kB of argv: within the per-task limit (1 MiB), over the message
  // limit of this daemon.
  const std::string dag = WriteDag(
      "big.json",
      Graph("big", {MakeTask("t", {"echo", std::string(200'000, 'y')})}));
  CliResult r = Cli({"submit", dag});
  EXPECT_EQ(r.exit_code, 1) << r.err.substr(0, kReadableMessageBytes);
  EXPECT_THAT(r.err, AnyOf(HasSubstr("larger than max"),
                           HasSubstr("RESOURCE_EXHAUSTED")))
      << r.err.substr(0, kReadableMessageBytes);
  EXPECT_LT(r.err.size(), kReadableMessageBytes);
  absl::StatusOr<v1::ListGraphsResponse> list = ListGraphs();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->graphs_size(), 0);
  ExpectStillServing();
}

// A chain of 10,000 tasks is a valid graph: stored, recovered after a
// restart, and cancelled, without deep recursion anywhere.
TEST_F(BadInputTest, DeepChainOf10000TasksIsAcceptedRecoveredAndCancelled) {
  constexpr int kTasks = 10'000;
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  std::string json = R"({"name": "chain", "tasks": [)";
  for (int i = 0; i < kTasks; ++i) {
    absl::StrAppend(
        &json, i == 0 ? "" : ",", R"({"id": "t)", i,
        R"(", "command": ["true"])",
        i == 0 ? "" : absl::StrCat(R"(, "deps": ["t)", i - 1, "\"]"), "}");
  }
  json += "]}";
  const std::string path = Path("chain.json");
  WriteFileOrFail(path, json);
  const std::string id = Submit(path);
  ASSERT_FALSE(id.empty());

  auto check_pending = [&](const char* when) {
    SCOPED_TRACE(when);
    absl::StatusOr<v1::Graph> g = GetGraph(id);
    ASSERT_TRUE(g.ok()) << g.status();
    EXPECT_EQ(g->tasks_size(), kTasks);
    EXPECT_EQ(g->summary().counts().ready(), 1);
    EXPECT_EQ(g->summary().counts().pending(), kTasks - 1);
  };
  check_pending("after submit");
  ASSERT_NO_FATAL_FAILURE(RestartCoordinator());
  check_pending("after a restart");

  CliResult cancel = Cli({"cancel", id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(cancel.out,
              HasSubstr(absl::StrCat("cancelled ", kTasks, " task(s)")));
  absl::StatusOr<v1::Graph> g = GetGraph(id);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->summary().state(), v1::GRAPH_STATE_CANCELLED);
  EXPECT_EQ(g->summary().counts().cancelled(), kTasks);

  ASSERT_NO_FATAL_FAILURE(StartWorker("w1", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1"}));
  ExpectStillServing();
}

TEST_F(BadInputTest, UnknownIdsAreNotFound) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  const std::string long_id(10'000, '7');
  for (const std::string& graph :
       {std::string("424242"), std::string("-1"), std::string("0"),
        std::string("x y"), long_id}) {
    SCOPED_TRACE(graph.substr(0, 20));
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"status", graph},
                                               {"watch", graph},
                                               {"cancel", graph},
                                               {"retry", graph}}) {
      CliResult r = Cli(args);
      EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.err.substr(0, 200);
      EXPECT_THAT(r.err, HasSubstr("unknown graph")) << args[0];
      EXPECT_LT(r.err.size(), kReadableMessageBytes) << args[0];
    }
  }
  // A known graph, an unknown task.
  CliResult r =
      Cli({"submit", WriteDag("g.json", Graph("g", {ShellTask("t", "true")})),
           "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  CliResult cancel = Cli({"cancel", FirstLine(r.out), "no-such-task"});
  EXPECT_EQ(cancel.exit_code, 1);
  EXPECT_THAT(cancel.err, HasSubstr("no-such-task"));
  ExpectStillServing();
}

const char kConnect[] = "/vitte.task.v1.WorkerService/Connect";
// Every client method that takes a request (WatchGraph streams its answer,
// but a one-message call is enough to send it garbage and read the status).
const char* const kUnaryMethods[] = {"/vitte.task.v1.TaskService/SubmitGraph",
                                     "/vitte.task.v1.TaskService/GetGraph",
                                     "/vitte.task.v1.TaskService/ListGraphs",
                                     "/vitte.task.v1.TaskService/CancelGraph",
                                     "/vitte.task.v1.TaskService/RetryGraph",
                                     "/vitte.task.v1.TaskService/WatchGraph"};

v1::WorkerMessage Hello(int slots) {
  v1::WorkerMessage hello;
  hello.mutable_register_()->set_name("raw");
  hello.mutable_register_()->set_slots(slots);
  return hello;
}

// Raw bytes that are no protobuf, sent to the client service and to the
// worker stream, and protobufs that break the worker protocol: each call
// ends at once with an error (not a hang, not a crash), and the daemon goes
// on serving.
TEST_F(BadInputTest, MalformedProtobufsDoNotTakeTheDaemonDown) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 1}}));
  for (const char* method : kUnaryMethods) {
    for (const std::string& payload : {kGarbage, kTruncated}) {
      SCOPED_TRACE(method);
      grpc::Status s = RawUnary(address(), method, payload).status;
      EXPECT_FALSE(s.ok());
      EXPECT_THAT(s.error_code(),
                  Not(AnyOf(grpc::StatusCode::UNAVAILABLE,
                            grpc::StatusCode::DEADLINE_EXCEEDED)))
          << s.error_message();
    }
  }

  v1::WorkerMessage heartbeat;  // no register: not a valid first message
  struct Case {
    std::string name;
    std::vector<std::string> messages;
    bool invalid_argument;  // else: any end of the stream before its deadline
  };
  const std::vector<Case> cases = {
      {"garbage first", {kGarbage}, false},
      {"truncated first", {kTruncated}, false},
      {"garbage after register", {Serialized(Hello(1)), kGarbage}, false},
      {"no register", {Serialized(heartbeat)}, true},
      {"zero slots", {Serialized(Hello(0))}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RawReply reply = RawStream(address(), kConnect, c.messages);
    EXPECT_THAT(reply.status.error_code(),
                Not(AnyOf(grpc::StatusCode::UNAVAILABLE,
                          grpc::StatusCode::DEADLINE_EXCEEDED)))
        << reply.status.error_message();
    if (c.invalid_argument) {
      EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << reply.status.error_message();
      EXPECT_THAT(reply.status.error_message(),
                  AnyOf(HasSubstr("register"), HasSubstr("slots")));
    }
  }
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"w1"}));
  ExpectStillServing();
}

// What the caller of a malformed request should be told: that its request
// was malformed.
TEST_F(BadInputTest, MalformedProtobufsGetAClearStatus) {

  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  for (const char* method : kUnaryMethods) {
    SCOPED_TRACE(method);
    grpc::Status s = RawUnary(address(), method, kGarbage).status;
    EXPECT_THAT(s.error_code(), AnyOf(grpc::StatusCode::INVALID_ARGUMENT,
                                      grpc::StatusCode::INTERNAL));
    EXPECT_FALSE(s.error_message().empty());
  }
  for (const std::vector<std::string>& messages :
       {std::vector<std::string>{kGarbage},
        std::vector<std::string>{Serialized(Hello(1)), kGarbage}}) {
    RawReply reply = RawStream(address(), kConnect, messages);
    EXPECT_FALSE(reply.status.ok()) << "a malformed worker stream ended OK";
  }
}

}  // namespace
}  // namespace vitte::task::integration
