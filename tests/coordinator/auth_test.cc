// Tokens without a network: their text, the token table, the roles' table
// and the Authenticator's decisions, counts, rate and log lines (with a
// fake clock).
#include "coordinator/auth.h"

#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/auth_token.h"
#include "coordinator/store.h"
#include "coordinator/token_store.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include "tests/coordinator/test_util.h"

namespace vitte::task {
namespace {

using testing_util::TempDir;

TEST(AuthTokenTest, GeneratedTokensParseBackAndDiffer) {
  ASSERT_OK_AND_ASSIGN(TokenParts a, GenerateToken());
  ASSERT_OK_AND_ASSIGN(TokenParts b, GenerateToken());
  EXPECT_NE(a.id, b.id);
  EXPECT_NE(a.secret, b.secret);
  EXPECT_EQ(a.id.size(), 16u);
  EXPECT_EQ(a.secret.size(), 64u);
  ASSERT_OK_AND_ASSIGN(TokenParts parsed, ParseToken(a.Text()));
  EXPECT_EQ(parsed.id, a.id);
  EXPECT_EQ(parsed.secret, a.secret);
}

TEST(AuthTokenTest, MalformedTokensAreRefusedWithoutQuotingThem) {
  ASSERT_OK_AND_ASSIGN(TokenParts t, GenerateToken());
  const std::string good = t.Text();
  std::string upper = good;
  upper[5] = 'A';
  for (const std::string& bad :
       {std::string(""), std::string("hunter2"), good.substr(1),
        good + "0", "vt2" + good.substr(3), upper,
        good.substr(0, 20) + "-" + good.substr(21)}) {
    absl::StatusOr<TokenParts> parsed = ParseToken(bad);
    EXPECT_CODE(parsed, absl::StatusCode::kInvalidArgument);
    if (!bad.empty()) {
      EXPECT_FALSE(absl::StrContains(parsed.status().message(), bad));
    }
  }
}

TEST(AuthTokenTest, OnlyTheRightSecretMatchesItsHash) {
  const std::string hash = HashSecret("abc");
  EXPECT_EQ(hash.size(), 32u);
  EXPECT_TRUE(SecretMatches(hash, "abc"));
  EXPECT_FALSE(SecretMatches(hash, "abd"));
  EXPECT_FALSE(SecretMatches(hash, ""));
  EXPECT_FALSE(SecretMatches("", "abc"));
}

// A database with the current schema, and its token table.
class TokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, Store::Open(dir_.File("db")));
    ASSERT_OK_AND_ASSIGN(tokens_, TokenStore::Open(dir_.File("db")));
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<TokenStore> tokens_;
};

TEST_F(TokenStoreTest, OpenNeedsAnExistingUpgradedDatabase) {
  EXPECT_CODE(TokenStore::Open(dir_.File("missing")),
              absl::StatusCode::kFailedPrecondition);
  {
    ASSERT_OK_AND_ASSIGN(auto db, sql::Database::Open(dir_.File("old")));
    ASSERT_OK(db->Execute("PRAGMA user_version = 6"));
  }
  absl::StatusOr<std::unique_ptr<TokenStore>> old =
      TokenStore::Open(dir_.File("old"));
  EXPECT_CODE(old, absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(old.status().message(), "schema version 6"))
      << old.status();
}

TEST_F(TokenStoreTest, CreateKeepsOnlyTheHashAndNamesAreUniqueAmongValid) {
  ASSERT_OK_AND_ASSIGN(CreatedToken a, tokens_->Create("ci-bot", Role::kSubmit, 1000));
  ASSERT_OK_AND_ASSIGN(TokenParts parts, ParseToken(a.text));
  EXPECT_EQ(parts.id, a.record.id);
  ASSERT_OK_AND_ASSIGN(TokenRecord found, tokens_->Find(a.record.id));
  EXPECT_EQ(found.name, "ci-bot");
  EXPECT_EQ(found.role, Role::kSubmit);
  EXPECT_EQ(found.created_at_ms, 1000);
  EXPECT_FALSE(found.revoked());
  EXPECT_TRUE(SecretMatches(found.secret_sha256, parts.secret));
  EXPECT_FALSE(absl::StrContains(found.secret_sha256, parts.secret));

  EXPECT_CODE(tokens_->Create("ci-bot", Role::kRead, 2000),
              absl::StatusCode::kAlreadyExists);
  for (const std::string& bad : {std::string(""), std::string("a b"),
                                 std::string(65, 'x'), std::string("é")}) {
    EXPECT_CODE(tokens_->Create(bad, Role::kRead, 2000),
                absl::StatusCode::kInvalidArgument);
  }
  EXPECT_CODE(tokens_->Find("0000000000000000"), absl::StatusCode::kNotFound);
}

TEST_F(TokenStoreTest, RevokeByNameOrIdFreesTheName) {
  ASSERT_OK_AND_ASSIGN(CreatedToken a, tokens_->Create("w-1", Role::kWorker, 1));
  ASSERT_OK_AND_ASSIGN(CreatedToken b, tokens_->Create("w-2", Role::kWorker, 2));
  ASSERT_OK_AND_ASSIGN(TokenRecord r1, tokens_->Revoke("w-1", 10));
  EXPECT_EQ(r1.id, a.record.id);
  ASSERT_OK_AND_ASSIGN(TokenRecord r2, tokens_->Revoke(b.record.id, 11));
  EXPECT_EQ(r2.name, "w-2");
  EXPECT_CODE(tokens_->Revoke("w-1", 12), absl::StatusCode::kNotFound);
  EXPECT_CODE(tokens_->Revoke("nobody", 12), absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(TokenRecord gone, tokens_->Find(a.record.id));
  EXPECT_EQ(gone.revoked_at_ms, 10);

  // The name is free again; the old token stays revoked.
  ASSERT_OK_AND_ASSIGN(CreatedToken c, tokens_->Create("w-1", Role::kWorker, 20));
  EXPECT_NE(c.record.id, a.record.id);
  ASSERT_OK_AND_ASSIGN(std::vector<TokenRecord> all, tokens_->List());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, a.record.id);
  EXPECT_TRUE(all[0].revoked());
  EXPECT_TRUE(all[1].revoked());
  EXPECT_FALSE(all[2].revoked());
}

TEST(RoleTest, RolesAndTheirNames) {
  for (Role r : {Role::kRead, Role::kSubmit, Role::kAdmin, Role::kWorker}) {
    ASSERT_OK_AND_ASSIGN(Role parsed, ParseRole(RoleName(r)));
    EXPECT_EQ(parsed, r);
  }
  absl::StatusOr<Role> bad = ParseRole("root");
  EXPECT_CODE(bad, absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "read, submit, admin"));
}

TEST(RoleTest, UnknownServicesAndMethodsAreRefusedToEveryRole) {
  for (Role r : {Role::kRead, Role::kSubmit, Role::kAdmin, Role::kWorker}) {
    EXPECT_FALSE(RoleAllows(r, kTaskServiceName, "DropDatabase"));
    EXPECT_FALSE(RoleAllows(r, "vitte.task.v2.TaskService", "GetGraph"));
    EXPECT_FALSE(RoleAllows(r, kWorkerServiceName, "Register"));
  }
  // The worker service and the client service do not mix.
  EXPECT_FALSE(RoleAllows(Role::kAdmin, kWorkerServiceName, "Connect"));
  EXPECT_FALSE(RoleAllows(Role::kWorker, kTaskServiceName, "GetGraph"));
  EXPECT_TRUE(RoleAllows(Role::kWorker, kWorkerServiceName, "Connect"));
}

TEST(RoleTest, OnlyTheSubmitterOrAnAdminChangesAGraph) {
  const Caller alice{"alice", "1111111111111111", Role::kSubmit};
  const Caller reader{"alice", "2222222222222222", Role::kRead};
  const Caller admin{"root", "3333333333333333", Role::kAdmin};
  EXPECT_OK(CheckMayChangeGraph(alice, "alice", "7"));
  EXPECT_OK(CheckMayChangeGraph(admin, "alice", "7"));
  EXPECT_OK(CheckMayChangeGraph(Caller::Unchecked(), "", "7"));  // no tokens
  // A caller made by mistake has the least rights.
  EXPECT_EQ(Caller{}.role, Role::kRead);
  absl::Status bob = CheckMayChangeGraph(alice, "bob", "7");
  EXPECT_CODE(bob, absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(
      bob.message(),
      "token \"alice\" (role submit) may not change graph 7, submitted by "
      "\"bob\""))
      << bob;
  // A graph of the days without tokens belongs to no submit token.
  EXPECT_CODE(CheckMayChangeGraph(alice, "", "7"),
              absl::StatusCode::kPermissionDenied);
  // Read may not, even on a graph of its name's.
  EXPECT_CODE(CheckMayChangeGraph(reader, "alice", "7"),
              absl::StatusCode::kPermissionDenied);
}

// An Authenticator over a real token table, a fake clock and a captured log.
class AuthenticatorTest : public TokenStoreTest {
 protected:

  std::unique_ptr<Authenticator> Make(AuthOptions options) {
    options.require_tokens = true;
    return std::make_unique<Authenticator>(tokens_.get(), options, clock_,
                                           metrics_);
  }
  absl::StatusOr<Caller> Call(Authenticator& auth, const std::string& token,
                              absl::string_view method = "ListGraphs") {
    return auth.Authorize("Bearer " + token, kTaskServiceName, method,
                          "ipv4:127.0.0.1:4242");
  }
  std::string Metrics() {
    return metrics_.Render();
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  testing_util::ScopedLogCapture log_{spdlog::level::info};
};

TEST_F(AuthenticatorTest, WithoutTokensEveryoneIsAnAdmin) {
  Authenticator auth(nullptr, AuthOptions{}, clock_, metrics_);
  ASSERT_OK_AND_ASSIGN(
      Caller caller,
      auth.Authorize(std::nullopt, kTaskServiceName, "SubmitGraph", "peer"));
  EXPECT_EQ(caller.role, Role::kAdmin);
  EXPECT_TRUE(caller.name.empty());
  EXPECT_TRUE(auth.StillValid(caller));
}

TEST_F(AuthenticatorTest, GoodTokensPassAndEveryBadOneIsRefusedCountedLogged) {
  auto auth = Make({});
  ASSERT_OK_AND_ASSIGN(CreatedToken admin,
                       tokens_->Create("admin", Role::kAdmin, 1));
  ASSERT_OK_AND_ASSIGN(CreatedToken old, tokens_->Create("old", Role::kAdmin, 1));
  ASSERT_OK(tokens_->Revoke("old", 2).status());
  ASSERT_OK_AND_ASSIGN(TokenParts parts, ParseToken(admin.text));
  TokenParts wrong = parts;
  wrong.secret[0] = wrong.secret[0] == 'a' ? 'b' : 'a';
  ASSERT_OK_AND_ASSIGN(TokenParts unknown, GenerateToken());

  ASSERT_OK_AND_ASSIGN(Caller caller, Call(*auth, admin.text));
  EXPECT_EQ(caller.name, "admin");
  EXPECT_EQ(caller.token_id, parts.id);
  EXPECT_EQ(caller.role, Role::kAdmin);

  struct Bad {
    std::optional<std::string> header;
    const char* reason;
  };
  const Bad bad[] = {
      {std::nullopt, "missing"},
      {"Bearer hunter2", "malformed"},
      {"Basic " + admin.text, "malformed"},
      {"Bearer " + unknown.Text(), "unknown"},
      {"Bearer " + wrong.Text(), "wrong_secret"},
      {"Bearer " + old.text, "revoked"},
  };
  for (const Bad& b : bad) {
    clock_.Advance(absl::Seconds(2));  // past the log's once-a-second bound
    absl::StatusOr<Caller> refused =
        auth->Authorize(b.header, kTaskServiceName, "ListGraphs", "peer-1");
    EXPECT_CODE(refused, absl::StatusCode::kUnauthenticated);
    EXPECT_TRUE(absl::StrContains(
        Metrics(),
        absl::StrCat("vitte_auth_failures_total{reason=\"", b.reason, "\"} ")))
        << b.reason;
    EXPECT_TRUE(absl::StrContains(
        log_.str(), absl::StrCat("authentication failed: reason=", b.reason,
                                 " method=ListGraphs peer=peer-1")))
        << log_.str();
  }
  // An unknown id and a wrong secret answer alike: ids cannot be probed.
  EXPECT_EQ(
      Call(*auth, wrong.Text()).status().message(),
      absl::StrCat("token ", wrong.id, " is not valid"));
  // Ids are logged; what was presented never is.
  EXPECT_TRUE(absl::StrContains(log_.str(), "token_id=" + unknown.id));
  for (const std::string& secret :
       {parts.secret, wrong.secret, unknown.secret, std::string("hunter2")}) {
    EXPECT_FALSE(absl::StrContains(log_.str(), secret)) << log_.str();
    EXPECT_FALSE(absl::StrContains(Metrics(), secret));
  }
}

TEST_F(AuthenticatorTest, RefusalsFloodingInAreLoggedOnceASecond) {
  auto auth = Make({});
  for (int i = 0; i < 50; ++i) {
    EXPECT_CODE(Call(*auth, "nope"), absl::StatusCode::kUnauthenticated);
  }
  clock_.Advance(absl::Seconds(1));
  EXPECT_CODE(Call(*auth, "nope"), absl::StatusCode::kUnauthenticated);
  const std::string log = log_.str();
  size_t lines = 0;
  for (size_t at = log.find("authentication failed"); at != std::string::npos;
       at = log.find("authentication failed", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 2u) << log;
  EXPECT_TRUE(absl::StrContains(log, "(and 49 more refusals since the last such line)"))
      << log;
  EXPECT_TRUE(absl::StrContains(
      Metrics(), "vitte_auth_failures_total{reason=\"malformed\"} 51\n"));
}

TEST_F(AuthenticatorTest, RolesAreCheckedAfterTheToken) {
  auto auth = Make({});
  ASSERT_OK_AND_ASSIGN(CreatedToken worker,
                       tokens_->Create("build-1", Role::kWorker, 1));
  ASSERT_OK_AND_ASSIGN(CreatedToken reader,
                       tokens_->Create("dash", Role::kRead, 1));
  absl::StatusOr<Caller> denied = Call(*auth, worker.text, "GetGraph");
  EXPECT_CODE(denied, absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(
      denied.status().message(),
      "token \"build-1\" has role worker, which may not call "
      "vitte.task.v1.TaskService.GetGraph"))
      << denied.status();
  ASSERT_OK(auth->Authorize("Bearer " + worker.text, kWorkerServiceName,
                            "Connect", "peer")
                .status());
  EXPECT_CODE(Call(*auth, reader.text, "SubmitGraph"),
              absl::StatusCode::kPermissionDenied);
  ASSERT_OK(Call(*auth, reader.text, "GetLogs").status());
  EXPECT_TRUE(absl::StrContains(
      Metrics(),
      "vitte_auth_denied_total{role=\"read\",method=\"SubmitGraph\"} 1\n"))
      << Metrics();
}

TEST_F(AuthenticatorTest, EachTokenHasItsOwnBucket) {
  auto auth = Make({.rate_per_second = 10, .burst = 5});
  ASSERT_OK_AND_ASSIGN(CreatedToken a, tokens_->Create("a", Role::kRead, 1));
  ASSERT_OK_AND_ASSIGN(CreatedToken b, tokens_->Create("b", Role::kRead, 1));
  for (int i = 0; i < 5; ++i) ASSERT_OK(Call(*auth, a.text).status());
  absl::StatusOr<Caller> over = Call(*auth, a.text);
  EXPECT_CODE(over, absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(over.status().message(),
                                "token \"a\" is over its rate of 10 calls"))
      << over.status();
  // b is not slowed by a.
  ASSERT_OK(Call(*auth, b.text).status());
  // 10 per second: one more call after 100 ms, not two.
  clock_.Advance(absl::Milliseconds(100));
  ASSERT_OK(Call(*auth, a.text).status());
  EXPECT_CODE(Call(*auth, a.text), absl::StatusCode::kResourceExhausted);
  // Refilled up to the burst, no further.
  clock_.Advance(absl::Seconds(60));
  for (int i = 0; i < 5; ++i) ASSERT_OK(Call(*auth, a.text).status());
  EXPECT_CODE(Call(*auth, a.text), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(
      Metrics(), "vitte_auth_rate_limited_total{token=\"a\"} 3\n"))
      << Metrics();
}

TEST_F(AuthenticatorTest, ZeroRateMeansNoLimit) {
  auto auth = Make({.rate_per_second = 0, .burst = 0});
  ASSERT_OK_AND_ASSIGN(CreatedToken a, tokens_->Create("a", Role::kRead, 1));
  for (int i = 0; i < 1000; ++i) ASSERT_OK(Call(*auth, a.text).status());
}

TEST(RoleTest, AWorkerTokenRegistersOnlyUnderItsName) {
  const Caller build1{"build-1", "1111111111111111", Role::kWorker};
  EXPECT_OK(CheckWorkerName(build1, "build-1"));
  EXPECT_OK(CheckWorkerName(build1, "build-1/pod-7f2c"));
  EXPECT_OK(CheckWorkerName(Caller::Unchecked(), "anything"));
  for (const char* other : {"build-2", "build-10", "build-1x", "", "/build-1"}) {
    absl::Status refused = CheckWorkerName(build1, other);
    EXPECT_CODE(refused, absl::StatusCode::kPermissionDenied);
    EXPECT_TRUE(absl::StrContains(
        refused.message(),
        absl::StrCat("token \"build-1\" may not register a worker named \"",
                     other, "\"")))
        << refused;
  }
}

TEST_F(AuthenticatorTest, TheSweepEndsTheLongCallsOfRevokedTokensOnly) {
  auto auth = Make({});
  ASSERT_OK_AND_ASSIGN(CreatedToken a, tokens_->Create("a", Role::kRead, 1));
  ASSERT_OK_AND_ASSIGN(CreatedToken b, tokens_->Create("b", Role::kWorker, 1));
  ASSERT_OK_AND_ASSIGN(Caller ca, Call(*auth, a.text));
  ASSERT_OK_AND_ASSIGN(Caller cb, auth->Authorize("Bearer " + b.text,
                                                  kWorkerServiceName, "Connect",
                                                  "p"));
  int a_ended = 0;
  int b_ended = 0;
  auth->WatchCall(ca, [&] { ++a_ended; });
  auth->WatchCall(ca, [&] { ++a_ended; });
  const Authenticator::CallId forgotten = auth->WatchCall(ca, [&] { ++a_ended; });
  auth->WatchCall(cb, [&] { ++b_ended; });
  auth->ForgetCall(forgotten);  // that call ended by itself
  EXPECT_EQ(auth->SweepRevoked(), 0);
  EXPECT_EQ(a_ended + b_ended, 0);

  ASSERT_OK(tokens_->Revoke("a", 5).status());
  EXPECT_EQ(auth->SweepRevoked(), 2);
  EXPECT_EQ(a_ended, 2);
  EXPECT_EQ(b_ended, 0);
  // Each end is called once.
  EXPECT_EQ(auth->SweepRevoked(), 0);
  EXPECT_EQ(a_ended, 2);
}

TEST_F(AuthenticatorTest, ARevokedTokenIsNoLongerValid) {
  auto auth = Make({});
  ASSERT_OK_AND_ASSIGN(CreatedToken w, tokens_->Create("w", Role::kWorker, 1));
  ASSERT_OK_AND_ASSIGN(
      Caller caller,
      auth->Authorize("Bearer " + w.text, kWorkerServiceName, "Connect", "p"));
  EXPECT_TRUE(auth->StillValid(caller));
  // Revoked through another connection, as `vitte-taskd token revoke` does.
  ASSERT_OK_AND_ASSIGN(auto other, TokenStore::Open(dir_.File("db")));
  ASSERT_OK(other->Revoke("w", 5).status());
  EXPECT_FALSE(auth->StillValid(caller));
  EXPECT_CODE(
      auth->Authorize("Bearer " + w.text, kWorkerServiceName, "Connect", "p"),
      absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace vitte::task
