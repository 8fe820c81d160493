#include "common/listen_policy.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

struct Case {
  std::string address;
  bool loopback;
};

// The addresses the daemon may be given, and whether only this machine
// reaches them.
const std::vector<Case> kCases = {
    {"127.0.0.1:0", true},     {"127.1.2.3:7070", true},
    {"[::1]:7070", true},      {"localhost:1", true},
    {"LocalHost:1", true},     {"[::ffff:127.0.0.1]:1", true},
    {"ipv4:127.0.0.1:1", true}, {"unix:/run/vitte.sock", true},
    {"0.0.0.0:7070", false},   {"[::]:7070", false},
    {"10.1.2.3:7070", false},  {"my-host:7070", false},
    {":7070", false},          {"::1:7070", false},
    {"128.0.0.1:7070", false}, {"localhost.example.com:1", false},
};

TEST(ListenPolicyTest,
     LoopbackIsAlwaysAllowedAndOtherAddressesNeedTlsAndTokensOrInsecure) {
  for (const Case& c : kCases) {
    for (bool tls : {false, true}) {
     for (bool tokens : {false, true}) {
      for (bool insecure : {false, true}) {
        SCOPED_TRACE(c.address + (tls ? " tls" : "") +
                     (tokens ? " tokens" : "") +
                     (insecure ? " insecure" : ""));
        absl::StatusOr<ListenVerdict> verdict = CheckListenAddress(
            "--listen", c.address,
            {.tls = tls, .insecure = insecure, .authenticated = tokens});
        if (c.loopback) {
          ASSERT_TRUE(verdict.ok()) << verdict.status();
          EXPECT_EQ(*verdict, ListenVerdict::kLoopback);
        } else if (tls && tokens) {
          ASSERT_TRUE(verdict.ok()) << verdict.status();
          EXPECT_EQ(*verdict, ListenVerdict::kProtected);
        } else if (insecure) {
          ASSERT_TRUE(verdict.ok()) << verdict.status();
          EXPECT_EQ(*verdict, ListenVerdict::kInsecure);
        } else {
          ASSERT_FALSE(verdict.ok());
          EXPECT_TRUE(absl::IsFailedPrecondition(verdict.status()));
          // The message names the flag, the address and the way out.
          EXPECT_TRUE(absl::StrContains(verdict.status().message(),
                                        "--listen " + c.address))
              << verdict.status();
          EXPECT_TRUE(absl::StrContains(verdict.status().message(),
                                        "--insecure"));
          EXPECT_TRUE(absl::StrContains(verdict.status().message(),
                                        tls ? "without tokens" : "without TLS"))
              << verdict.status();
        }
      }
     }
    }
  }
}

TEST(ListenPolicyTest, NoListenerIsAllowed) {
  absl::StatusOr<ListenVerdict> verdict =
      CheckListenAddress("--metrics-listen", "", {});
  ASSERT_TRUE(verdict.ok());
  EXPECT_EQ(*verdict, ListenVerdict::kLoopback);
}

TEST(ListenPolicyTest, HostOfAddress) {
  EXPECT_EQ(ListenHost("127.0.0.1:0"), "127.0.0.1");
  EXPECT_EQ(ListenHost("[::1]:7070"), "::1");
  EXPECT_EQ(ListenHost("my-host:7070"), "my-host");
  EXPECT_EQ(ListenHost("ipv6:[::]:1"), "::");
  EXPECT_EQ(ListenHost("[::1"), "");
  EXPECT_EQ(ListenHost("my-host"), "");
}

}  // namespace
}  // namespace vitte::task
