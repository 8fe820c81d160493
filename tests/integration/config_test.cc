// vitte-taskd --config: the daemon runs from a TOML file alone, flags on
// the command line override it, a missing file stops it with exit code 2,
// and --print-config shows what the file and flags give.
#include <signal.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/http_get.h"

namespace vitte::task::integration {
namespace {

using ::testing::HasSubstr;
using ConfigFileTest = IntegrationTest;

// Waits (bounded) for `path` to hold a port number; 0 if it never does or
// the daemon exits first.
int WaitForPort(Process& daemon, const std::string& path) {
  int port = 0;
  PollUntil(absl::Seconds(20), [&] {
    return daemon.Exited() || ReadPortFile(path, &port);
  });
  return port;
}

TEST_F(ConfigFileTest, DaemonRunsFromTheFileAlone) {
  const std::string config = Path("taskd.toml");
  WriteFileOrFail(config, absl::StrCat("listen = \"127.0.0.1:0\"\n"
                                       "db = \"",
                                       Path("config.db"),
                                       "\"\n"
                                       "port-file = \"",
                                       Path("grpc.port"),
                                       "\"\n"
                                       "metrics-listen = \"127.0.0.1:0\"\n"
                                       "http-port-file = \"",
                                       Path("http.port"),
                                       "\"\n"
                                       "log-format = \"json\"\n"
                                       "lease-timeout = \"45s\"\n"));
  auto daemon =
      Process::Start({TaskdPath(), "--config", config}, Path("taskd"));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const int grpc_port = WaitForPort(**daemon, Path("grpc.port"));
  const int http_port = WaitForPort(**daemon, Path("http.port"));
  ASSERT_GT(grpc_port, 0) << (*daemon)->LogsForDiagnosis();
  ASSERT_GT(http_port, 0) << (*daemon)->LogsForDiagnosis();
  absl::StatusOr<HttpReply> health = HttpGet(http_port, "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  // log-format = "json" took effect too: every log line is an object.
  for (absl::string_view line :
       absl::StrSplit((*daemon)->Stderr(), '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, "{")) << line;
  }
  ASSERT_TRUE((*daemon)->Signal(SIGTERM).ok());
  absl::StatusOr<int> code = (*daemon)->WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << (*daemon)->LogsForDiagnosis();
}

TEST_F(ConfigFileTest, CommandLineOverridesTheFile) {
  const std::string config = Path("taskd.toml");
  WriteFileOrFail(config, absl::StrCat("listen = \"127.0.0.1:0\"\n"
                                       "db = \"",
                                       Path("config.db"),
                                       "\"\n"
                                       "port-file = \"",
                                       Path("from-file.port"), "\"\n"));
  auto daemon = Process::Start(
      {TaskdPath(), "--port-file", Path("from-flag.port"), "--config", config},
      Path("taskd"));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  ASSERT_GT(WaitForPort(**daemon, Path("from-flag.port")), 0)
      << (*daemon)->LogsForDiagnosis();
  EXPECT_EQ(ReadFileOrEmpty(Path("from-file.port")), "");
}

TEST_F(ConfigFileTest, MissingOrBadFileStopsTheDaemonWithExitCode2) {
  const std::string missing = Path("missing.toml");
  const std::string bad = Path("bad.toml");
  WriteFileOrFail(bad, "listen = \"127.0.0.1:0\"\nlease-timeout = 30\n");
  for (const auto& [file, message] :
       {std::pair{missing, missing + ": No such file or directory"},
        std::pair{bad, bad + ":2: key \"lease-timeout\": wants a duration"}}) {
    auto daemon =
        Process::Start({TaskdPath(), "--config", file}, Path("taskd-bad"));
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    absl::StatusOr<int> code = (*daemon)->WaitForExit(absl::Seconds(20));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 2);
    EXPECT_THAT((*daemon)->Stderr(), HasSubstr(message));
  }
}

TEST_F(ConfigFileTest, PrintConfigShowsTheFileAndFlagsTogether) {
  const std::string config = Path("taskd.toml");
  WriteFileOrFail(config, "lease-timeout = \"45s\"\nmax-lost-attempts = 7\n");
  auto daemon = Process::Start({TaskdPath(), "--config", config,
                                "--max-lost-attempts", "9", "--print-config"},
                               Path("taskd-print"));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  absl::StatusOr<int> code = (*daemon)->WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << (*daemon)->LogsForDiagnosis();
  const std::string out = (*daemon)->Stdout();
  EXPECT_THAT(out, HasSubstr("\nlease-timeout = \"45s\"\n"));
  EXPECT_THAT(out, HasSubstr("\nmax-lost-attempts = 9\n"));
  EXPECT_THAT(out, HasSubstr("\nlisten = \"127.0.0.1:7070\"\n"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("\nconfig =")));
}

}  // namespace
}  // namespace vitte::task::integration
