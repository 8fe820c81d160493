// The README's "Running a farm", on one machine: a coordinator configured by
// its TOML file to serve TLS (gRPC and HTTPS) and require tokens, tokens
// made with `vitte-taskd token create`, two workers configured by theirs,
// and the CLI driven by the environment variables the README exports. Only
// systemd and the network between machines are left out.
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/test_certs.h"

namespace vitte::task::integration {
namespace {

using FarmTest = IntegrationTest;

TEST_F(FarmTest, TheReadmeFarmRunsOnTlsAndTokens) {
  ASSERT_NO_FATAL_FAILURE(MakeTestCertificates(dir()));
  // Step 4 before the first start works too: the database is made then.
  for (const auto& [role, name] :
       {std::pair{"admin", "alice"}, {"worker", "build-1"}, {"worker", "build-2"}}) {
    const std::string token = CreateToken(role, name);
    ASSERT_FALSE(token.empty());
    TokenFile(name, token);
  }

  // Step 3: the keys the README sets (the harness adds the loopback
  // --listen and --metrics-listen of a test, which override the file).
  WriteFileOrFail(Path("vitte-taskd.toml"),
                  absl::StrCat("tls-cert = \"", Path("server.pem"), "\"\n",
                               "tls-key = \"", Path("server.key"), "\"\n",
                               "auth = \"tokens\"\n",
                               "http-tls-cert = \"", Path("server.pem"), "\"\n",
                               "http-tls-key = \"", Path("server.key"), "\"\n"));
  SetTaskdFlag("config", Path("vitte-taskd.toml"));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  EXPECT_TRUE(absl::StrContains(coordinator().Stderr(),
                                ", TLS, tokens required)"))
      << coordinator().Stderr();

  // Step 5: each worker's file names the CA and its token.
  for (const std::string name : {"build-1", "build-2"}) {
    const std::string config = Path(name + ".toml");
    WriteFileOrFail(config, absl::StrCat("tls-ca = \"", Path("ca.pem"), "\"\n",
                                         "token-file = \"",
                                         Path(name + ".token"), "\"\n"));
    ASSERT_NO_FATAL_FAILURE(StartWorker(name, 2, {}, {"--config", config}));
  }

  // Step 6: the CLI from the environment alone.
  const std::map<std::string, std::string> env = {
      {"VITTE_COORDINATOR", address()},
      {"VITTE_TLS_CA", Path("ca.pem")},
      {"VITTE_TOKEN_FILE", Path("alice.token")}};
  EXPECT_TRUE(PollUntil(absl::Seconds(20), [&] {
    CliResult r = RunCli({"workers"}, absl::Seconds(30), env);
    return r.exit_code == 0 && absl::StrContains(r.out, "build-1") &&
           absl::StrContains(r.out, "build-2");
  }));
  CliResult run = RunCli(
      {"submit", "--wait", ExamplesDir() + "/hello-farm.json"},
      absl::Seconds(60), env);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;

  // Without the CA the CLI cannot even connect; without a token it is
  // refused.
  CliResult no_ca = RunCli({"--coordinator", address(), "--token-file",
                            Path("alice.token"), "list"},
                           absl::Seconds(30), {});
  EXPECT_NE(no_ca.exit_code, 0);
  CliResult no_token = RunCli(
      {"--coordinator", address(), "--tls-ca", Path("ca.pem"), "list"},
      absl::Seconds(30), {});
  EXPECT_NE(no_token.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(no_token.err, "requires a token"))
      << no_token.err;

  // Day to day: a revoked worker is cut off and stays out.
  CliResult revoked = RunTaskd(
      {"token", "revoke", "build-2", "--db", Path("coordinator.db")});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_TRUE(PollUntil(absl::Seconds(20), [&] {
    CliResult r = RunCli({"workers", "--output", "json"}, absl::Seconds(30), env);
    return r.exit_code == 0 && absl::StrContains(r.out, "build-1") &&
           !absl::StrContains(r.out, "\"build-2\"");
  }));

  // For the harness's own checks at tear-down.
  SetTls({.ca = Path("ca.pem")});
  SetTokenFiles(Path("alice.token"), "");
}

}  // namespace
}  // namespace vitte::task::integration
