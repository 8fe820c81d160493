#include "common/listen_policy.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

// Each listener with the flags that protect it: the HTTP listener counts as
// protected when it serves HTTPS (--http-tls-cert), and a refusal names the
// flags of the listener refused, not the other one's.
TEST(ListenPolicyTest, EachListenerIsProtectedByItsOwnTlsAndNamesIt) {
  struct Listener {
    std::string flag;
    const char* tls_flags;
  };
  const std::vector<Listener> listeners = {
      {"--listen", "--tls-cert and --tls-key"},
      {"--metrics-listen", "--http-tls-cert and --http-tls-key"},
  };
  for (const Listener& l : listeners) {
    for (bool tls : {false, true}) {
      SCOPED_TRACE(l.flag + (tls ? " tls" : ""));
      ListenProtection protection{.tls = tls,
                                  .insecure = false,
                                  .authenticated = true,
                                  .tls_flags = l.tls_flags};
      absl::StatusOr<ListenVerdict> off =
          CheckListenAddress(l.flag, "0.0.0.0:8080", protection);
      absl::StatusOr<ListenVerdict> on =
          CheckListenAddress(l.flag, "127.0.0.1:8080", protection);
      ASSERT_TRUE(on.ok()) << on.status();
      EXPECT_EQ(*on, ListenVerdict::kLoopback);
      if (tls) {
        ASSERT_TRUE(off.ok()) << off.status();
        EXPECT_EQ(*off, ListenVerdict::kProtected);
      } else {
        ASSERT_FALSE(off.ok());
        EXPECT_TRUE(
            absl::StrContains(off.status().message(),
                              absl::StrCat("serve TLS (", l.tls_flags, ")")))
            << off.status();
        EXPECT_FALSE(absl::StrContains(off.status().message(), "has no TLS"))
            << off.status();
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
