#include "common/flags.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;

absl::StatusOr<std::vector<std::string>> Parse(FlagParser& parser,
                                               std::vector<std::string> args) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parser.Parse(static_cast<int>(argv.size()), argv.data());
}

TEST(FlagsTest, ParsesDashedLongFlagsBothWays) {
  std::string level = "info";
  int64_t slots = 1;
  bool wait = false;
  absl::Duration hb = absl::Seconds(2);
  std::vector<std::string> labels;
  FlagParser p("usage");
  p.AddString("log-level", &level, "");
  p.AddInt("slots", &slots, "");
  p.AddBool("wait", &wait, "");
  p.AddDuration("heartbeat-interval", &hb, "");
  p.AddRepeated("label", &labels, "");
  auto rest = Parse(p, {"submit", "--log-level", "debug", "f.json",
                        "--slots=4", "--wait", "--heartbeat-interval=200ms",
                        "--label", "os=linux", "--label=arch=x86", "--",
                        "--not-a-flag"});
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_THAT(*rest, ElementsAre("submit", "f.json", "--not-a-flag"));
  EXPECT_EQ(level, "debug");
  EXPECT_EQ(slots, 4);
  EXPECT_TRUE(wait);
  EXPECT_EQ(hb, absl::Milliseconds(200));
  EXPECT_THAT(labels, ElementsAre("os=linux", "arch=x86"));
}

TEST(FlagsTest, ErrorsNameTheFlag) {
  int64_t slots = 1;
  absl::Duration hb;
  FlagParser p("usage");
  p.AddInt("slots", &slots, "");
  p.AddDuration("lease-timeout", &hb, "");
  EXPECT_EQ(Parse(p, {"--slots", "many"}).status().message(),
            "--slots: \"many\" is not an integer");
  EXPECT_EQ(Parse(p, {"--lease-timeout=soon"}).status().message(),
            "--lease-timeout: \"soon\" is not a duration such as 200ms or 5s");
  EXPECT_EQ(Parse(p, {"--slots"}).status().message(), "--slots needs a value");
  EXPECT_EQ(Parse(p, {"--sots=3"}).status().message(),
            "unknown flag --sots (see --help)");
}

TEST(FlagsTest, HelpListsFlagsWithDefaults) {
  int64_t slots = 8;
  FlagParser p("usage line");
  p.AddInt("slots", &slots, "tasks at once");
  auto rest = Parse(p, {"--help"});
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(p.help_requested());
  EXPECT_THAT(p.Help(), ::testing::HasSubstr("--slots VALUE"));
  EXPECT_THAT(p.Help(), ::testing::HasSubstr("tasks at once (default: 8)"));
}

}  // namespace
}  // namespace vitte::task
