// TLS on the gRPC port and on the HTTP listener, mutual TLS for callers,
// and the rule that keeps an unprotected daemon on loopback. Certificates are
// made at test time with Debian's openssl command (.ci/install-deps.sh installs
// it): a CA, a server certificate for IP:127.0.0.1 and DNS:localhost, a client
// certificate, and a second CA that signed neither.
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/test_certs.h"
#include "tests/integration/http_get.h"

namespace vitte::task::integration {
namespace {

class TlsTest : public IntegrationTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(IntegrationTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(MakeTestCertificates(dir()));
  }

  // TLS with the server's certificate; workers and the CLI trust ca.pem.
  TlsFiles ServerTls() {
    TlsFiles tls;
    tls.server_cert = Path("server.pem");
    tls.server_key = Path("server.key");
    tls.ca = Path("ca.pem");
    return tls;
  }

  // Mutual TLS: the daemon wants client certificates signed by ca.pem, and
  // workers and the CLI present client.pem.
  TlsFiles MutualTls() {
    TlsFiles tls = ServerTls();
    tls.client_ca = Path("ca.pem");
    tls.client_cert = Path("client.pem");
    tls.client_key = Path("client.key");
    return tls;
  }

  // Starts vitte-taskd with `flags` (its db and port file added) and waits
  // up to 20 s for it to serve or exit. Returns the process; *port is the
  // bound port, or 0 if it exited. With `http_port`, it also waits for the
  // HTTP port (--http-port-file is added; give --metrics-listen).
  std::unique_ptr<Process> StartTaskd(std::vector<std::string> flags, int* port,
                                      int* http_port = nullptr) {
    const std::string port_file = Path(absl::StrCat("own.", ++own_starts_, ".port"));
    const std::string http_port_file =
        Path(absl::StrCat("own.", own_starts_, ".http-port"));
    std::vector<std::string> argv = {TaskdPath(), "--db",
                                     Path(absl::StrCat("own.", own_starts_, ".db")),
                                     "--port-file", port_file};
    if (http_port != nullptr) {
      argv.push_back("--http-port-file");
      argv.push_back(http_port_file);
      *http_port = 0;
    }
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto process = Process::Start(argv, Path(absl::StrCat("own.", own_starts_)));
    if (!process.ok()) {
      ADD_FAILURE() << process.status();
      return nullptr;
    }
    *port = 0;
    bool settled = PollUntil(absl::Seconds(20), [&] {
      return (*process)->Exited() ||
             (ReadPortFile(port_file, port) &&
              (http_port == nullptr ||
               ReadPortFile(http_port_file, http_port)));
    });
    EXPECT_TRUE(settled) << "vitte-taskd neither served nor exited in 20 s\n"
                         << (*process)->LogsForDiagnosis();
    return std::move(*process);
  }

 private:
  int own_starts_ = 0;
};

TEST_F(TlsTest, GraphRunsOverTls) {
  SetTls(ServerTls());
  ASSERT_NO_FATAL_FAILURE(StartCluster({{"w1", 2}}));
  EXPECT_TRUE(absl::StrContains(coordinator().Stderr(), ", TLS, no tokens)"))
      << coordinator().Stderr();
  std::string dag = WriteDag(
      "g.json", Graph("tls", {ShellTask("a", "echo a > a.out"),
                              ShellTask("b", "cat a.out", {"a"})}));
  CliResult r = Cli({"submit", dag, "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // A client speaking plain text to the TLS port gets nowhere.
  CliResult plain = RunCli({"--coordinator", address(), "list"});
  EXPECT_EQ(plain.exit_code, 1) << plain.err;
  EXPECT_TRUE(absl::StrContains(plain.err, "cannot reach the coordinator"))
      << plain.err;
}

TEST_F(TlsTest, WrongCaFailsWithAHandshakeError) {
  SetTls(ServerTls());
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  CliResult r = RunCli({"--coordinator", address(), "--tls-ca",
                        Path("other-ca.pem"), "list"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "cannot reach the coordinator at " +
                                           address()))
      << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "TLS handshake failed")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "--tls-ca")) << r.err;

  // The same from the environment, with the right CA, works.
  CliResult env = RunCli({"--coordinator", address(), "list"},
                         absl::Seconds(30), {{"VITTE_TLS_CA", Path("ca.pem")}});
  EXPECT_EQ(env.exit_code, 0) << env.err;
}

TEST_F(TlsTest, CertificateNameMustMatchUnlessOverridden) {
  SetTls(ServerTls());
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  // The certificate names 127.0.0.1 and localhost, not this name.
  CliResult wrong = RunCli({"--coordinator", address(), "--tls-ca",
                            Path("ca.pem"), "--tls-server-name",
                            "elsewhere.example", "list"});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.err;
  CliResult right = RunCli({"--coordinator", address(), "--tls-ca",
                            Path("ca.pem"), "--tls-server-name", "localhost",
                            "list"});
  EXPECT_EQ(right.exit_code, 0) << right.err;
}

TEST_F(TlsTest, MissingTlsFileIsNamed) {
  CliResult r = RunCli({"--coordinator", "127.0.0.1:1", "--tls-ca",
                        Path("nope.pem"), "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "--tls-ca: cannot read \"" +
                                           Path("nope.pem") + "\""))
      << r.err;
  int port = 0;
  std::unique_ptr<Process> taskd =
      StartTaskd({"--listen", "127.0.0.1:0", "--tls-cert", Path("server.pem"),
                  "--tls-key", Path("ca.pem")},
                 &port);
  ASSERT_NE(taskd, nullptr);
  absl::StatusOr<int> code = taskd->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_NE(*code, 0);
  EXPECT_TRUE(absl::StrContains(taskd->Stderr(), "--tls-key: \"" +
                                                     Path("ca.pem") +
                                                     "\" holds no PEM PRIVATE KEY"))
      << taskd->Stderr();
}

TEST_F(TlsTest, MutualTlsRefusesAWorkerWithoutCertificate) {
  SetTls(MutualTls());
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  EXPECT_TRUE(absl::StrContains(coordinator().Stderr(),
                                "TLS, client certificates required"))
      << coordinator().Stderr();

  // A worker that trusts the daemon but has no certificate of its own.
  TlsFiles no_cert = MutualTls();
  no_cert.client_cert.clear();
  no_cert.client_key.clear();
  SetTls(no_cert);
  ASSERT_NO_FATAL_FAILURE(StartWorker("bare", 1));
  // The CLI without a certificate is refused too: it shares the port.
  CliResult bare_cli = Cli({"workers"});
  EXPECT_EQ(bare_cli.exit_code, 1) << bare_cli.err;
  EXPECT_TRUE(absl::StrContains(bare_cli.err, "--tls-client-ca")) << bare_cli.err;
  SetTls(MutualTls());

  ASSERT_NO_FATAL_FAILURE(StartWorker("good", 1));
  ASSERT_NO_FATAL_FAILURE(WaitForWorkers({"good"}));
  // The bare worker has tried (and failed) at least once by now, and says
  // what may be missing.
  EXPECT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return absl::StrContains(worker("bare").Stderr(),
                             "give --tls-cert and --tls-key");
  })) << worker("bare").Stderr();
  absl::StatusOr<v1::ListWorkersResponse> workers = ListWorkers();
  ASSERT_TRUE(workers.ok()) << workers.status();
  ASSERT_EQ(workers->workers_size(), 1) << workers->DebugString();
  EXPECT_EQ(workers->workers(0).name(), "good");
}

// GET `path` over HTTPS from 127.0.0.1:`port`, trusting `ca` only, with
// the client certificate `cert` and `key` when given. The result holds the
// error (e.g. a failed handshake) when no answer came.
httplib::Result HttpsGet(int port, const std::string& path,
                         const std::string& ca, const std::string& cert = "",
                         const std::string& key = "") {
  // OpenSSL writes to the socket without MSG_NOSIGNAL: a server that drops
  // the handshake (no client certificate) would kill the test with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  httplib::SSLClient client("127.0.0.1", port, cert, key);
  client.set_ca_cert_path(ca.c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(10, 0);
  return client.Get(path.c_str());
}

TEST_F(TlsTest, HttpListenerServesHttpsAndRefusesPlainHttp) {
  int port = 0;
  int http_port = 0;
  std::unique_ptr<Process> taskd =
      StartTaskd({"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                  "--http-tls-cert", Path("server.pem"), "--http-tls-key",
                  Path("server.key")},
                 &port, &http_port);
  ASSERT_NE(taskd, nullptr);
  ASSERT_GT(http_port, 0) << taskd->LogsForDiagnosis();
  EXPECT_TRUE(absl::StrContains(taskd->Stderr(), "serving HTTPS"))
      << taskd->Stderr();

  httplib::Result metrics = HttpsGet(http_port, "/metrics", Path("ca.pem"));
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_TRUE(absl::StrContains(metrics->body, "# TYPE vitte_"))
      << metrics->body.substr(0, 500);
  httplib::Result page = HttpsGet(http_port, "/", Path("ca.pem"));
  ASSERT_TRUE(page) << httplib::to_string(page.error());
  EXPECT_EQ(page->status, 200);

  // Plain HTTP to the HTTPS port gets no answer.
  absl::StatusOr<HttpReply> plain =
      HttpGet(http_port, "/metrics", absl::Seconds(5));
  EXPECT_FALSE(plain.ok()) << plain->status << " " << plain->body;
  // Nor does a client that trusts another CA.
  httplib::Result untrusted =
      HttpsGet(http_port, "/metrics", Path("other-ca.pem"));
  EXPECT_FALSE(untrusted);
}

TEST_F(TlsTest, WorkerServesItsMetricsOverHttps) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  const std::string port_file = Path("w1.http-port");
  ASSERT_NO_FATAL_FAILURE(
      StartWorker("w1", 1, {},
                  {"--metrics-listen", "127.0.0.1:0", "--http-port-file",
                   port_file, "--http-tls-cert", Path("server.pem"),
                   "--http-tls-key", Path("server.key")}));
  int http_port = 0;
  ASSERT_TRUE(PollUntil(absl::Seconds(20), [&] {
    return ReadPortFile(port_file, &http_port);
  })) << worker("w1").LogsForDiagnosis();
  httplib::Result metrics = HttpsGet(http_port, "/metrics", Path("ca.pem"));
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_TRUE(absl::StrContains(metrics->body, "vitte_worker_slots 1"))
      << metrics->body.substr(0, 500);
  EXPECT_FALSE(HttpGet(http_port, "/metrics", absl::Seconds(5)).ok());
}

TEST_F(TlsTest, HttpsIsProtectedOffLoopbackAndCanRequireClientCerts) {
  int port = 0;
  int http_port = 0;
  // Off loopback without --insecure: HTTPS (and tokens for its API) is what
  // lets it serve.
  std::unique_ptr<Process> taskd =
      StartTaskd({"--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0",
                  "--http-tls-cert", Path("server.pem"), "--http-tls-key",
                  Path("server.key"), "--http-tls-client-ca", Path("ca.pem"),
                  "--auth", "tokens"},
                 &port, &http_port);
  ASSERT_NE(taskd, nullptr);
  ASSERT_GT(http_port, 0) << taskd->LogsForDiagnosis();
  EXPECT_FALSE(absl::StrContains(taskd->Stderr(), "INSECURE"))
      << taskd->Stderr();
  EXPECT_TRUE(
      absl::StrContains(taskd->Stderr(), "HTTPS, client certificates required"))
      << taskd->Stderr();

  EXPECT_FALSE(HttpsGet(http_port, "/metrics", Path("ca.pem")));
  httplib::Result with_cert = HttpsGet(http_port, "/metrics", Path("ca.pem"),
                                       Path("client.pem"), Path("client.key"));
  ASSERT_TRUE(with_cert) << httplib::to_string(with_cert.error());
  EXPECT_EQ(with_cert->status, 200);
}

TEST_F(TlsTest, BadHttpTlsFlagsAreNamed) {
  struct Case {
    std::vector<std::string> flags;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"--http-tls-cert", Path("server.pem")},
       "--http-tls-cert and --http-tls-key go together"},
      {{"--http-tls-cert", Path("server.pem"), "--http-tls-key",
        Path("ca.pem")},
       "--http-tls-key: \"" + Path("ca.pem") + "\" holds no PEM PRIVATE KEY"},
      // Both files are fine, but the key is not the certificate's.
      {{"--http-tls-cert", Path("server.pem"), "--http-tls-key",
        Path("client.key")},
       "cannot serve HTTPS with --http-tls-cert"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    std::vector<std::string> flags = {"--listen", "127.0.0.1:0",
                                      "--metrics-listen", "127.0.0.1:0"};
    flags.insert(flags.end(), c.flags.begin(), c.flags.end());
    int port = 0;
    int http_port = 0;
    std::unique_ptr<Process> taskd = StartTaskd(flags, &port, &http_port);
    ASSERT_NE(taskd, nullptr);
    absl::StatusOr<int> code = taskd->WaitForExit(absl::Seconds(20));
    ASSERT_TRUE(code.ok());
    EXPECT_NE(*code, 0);
    EXPECT_TRUE(absl::StrContains(taskd->Stderr(), c.error)) << taskd->Stderr();
  }
}

TEST_F(TlsTest, NonLoopbackWithoutTlsAndTokensNeedsInsecure) {
  int port = 0;
  std::unique_ptr<Process> refused =
      StartTaskd({"--listen", "0.0.0.0:0"}, &port);
  ASSERT_NE(refused, nullptr);
  absl::StatusOr<int> code = refused->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_NE(*code, 0);
  EXPECT_EQ(port, 0);
  EXPECT_TRUE(absl::StrContains(refused->Stderr(),
                                "--listen 0.0.0.0:0 is not a loopback address"))
      << refused->Stderr();
  EXPECT_TRUE(absl::StrContains(refused->Stderr(), "--insecure"))
      << refused->Stderr();

  // The HTTP listener has the same rule, TLS on the gRPC port or not.
  std::unique_ptr<Process> http_refused = StartTaskd(
      {"--listen", "127.0.0.1:0", "--tls-cert", Path("server.pem"),
       "--tls-key", Path("server.key"), "--metrics-listen", "0.0.0.0:0"},
      &port);
  ASSERT_NE(http_refused, nullptr);
  code = http_refused->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_NE(*code, 0);
  EXPECT_TRUE(absl::StrContains(http_refused->Stderr(),
                                "--metrics-listen 0.0.0.0:0 is not a loopback"))
      << http_refused->Stderr();
  // ... and names its own TLS flags.
  EXPECT_TRUE(absl::StrContains(http_refused->Stderr(),
                                "--http-tls-cert and --http-tls-key"))
      << http_refused->Stderr();

  // TLS alone is not enough off loopback: tokens are required too.
  std::unique_ptr<Process> tokenless = StartTaskd(
      {"--listen", "0.0.0.0:0", "--tls-cert", Path("server.pem"), "--tls-key",
       Path("server.key")},
      &port);
  ASSERT_NE(tokenless, nullptr);
  code = tokenless->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_NE(*code, 0);
  EXPECT_TRUE(absl::StrContains(
      tokenless->Stderr(),
      "--listen 0.0.0.0:0 is not a loopback address and would be served "
      "without tokens"))
      << tokenless->Stderr();
  EXPECT_TRUE(absl::StrContains(tokenless->Stderr(), "--auth tokens"))
      << tokenless->Stderr();

  // --insecure: it serves, and says so.
  std::unique_ptr<Process> insecure =
      StartTaskd({"--listen", "0.0.0.0:0", "--insecure"}, &port);
  ASSERT_NE(insecure, nullptr);
  ASSERT_GT(port, 0) << insecure->LogsForDiagnosis();
  EXPECT_TRUE(absl::StrContains(insecure->Stderr(), "INSECURE: --listen 0.0.0.0:0"))
      << insecure->Stderr();
  ASSERT_TRUE(insecure->Signal(SIGTERM).ok());
  code = insecure->WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << insecure->LogsForDiagnosis();
}

}  // namespace
}  // namespace vitte::task::integration
