// FlagParser with a --config file: the file is applied first, the command
// line overrides it; bad entries name the file, line and key.
#include <fstream>
#include <string>
#include <vector>

#include "common/config_file.h"
#include "common/flags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A parser with one flag of every kind and --config / --print-config.
struct Daemon {
  std::string listen = "127.0.0.1:7070";
  std::string token_file;
  int64_t slots = 4;
  bool insecure = false;
  absl::Duration lease = absl::Seconds(30);
  std::vector<std::string> labels;
  FlagParser parser{"usage"};

  Daemon() {
    parser.AddConfigFileFlag("config");
    parser.AddPrintConfigFlag("print-config");
    parser.AddString("listen", &listen, "host:port to serve on");
    parser.AddString("token-file", &token_file, "file of tokens");
    parser.AddInt("slots", &slots, "tasks at once");
    parser.AddBool("insecure", &insecure, "no TLS off loopback");
    parser.AddDuration("lease-timeout", &lease, "silence before lost");
    parser.AddRepeated("label", &labels, "key=value; repeatable");
  }

  absl::StatusOr<std::vector<std::string>> Parse(
      std::vector<std::string> args) {
    args.insert(args.begin(), "prog");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return parser.Parse(static_cast<int>(argv.size()), argv.data());
  }
};

std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(FlagsConfigTest, FileSetsEveryKind) {
  std::string path = WriteFile("every_kind.toml", R"(# a comment
listen = "0.0.0.0:7070"
slots = 16
insecure = true
lease-timeout = "1m30s"
label = ["os=linux", "pool=release"]
)");
  Daemon d;
  ASSERT_TRUE(d.Parse({"--config", path}).ok());
  EXPECT_EQ(d.listen, "0.0.0.0:7070");
  EXPECT_EQ(d.slots, 16);
  EXPECT_TRUE(d.insecure);
  EXPECT_EQ(d.lease, absl::Seconds(90));
  EXPECT_THAT(d.labels, ElementsAre("os=linux", "pool=release"));
}

TEST(FlagsConfigTest, CommandLineOverridesFileWhereverConfigStands) {
  std::string path = WriteFile("override.toml", R"(
listen = "0.0.0.0:7070"
slots = 16
insecure = true
label = ["os=linux", "pool=release"]
)");
  Daemon d;
  // --config comes last, yet the flags before it win.
  ASSERT_TRUE(d.Parse({"--slots=2", "--insecure=false", "--label", "a=1",
                       "--label=b=2", "--config=" + path})
                  .ok());
  EXPECT_EQ(d.listen, "0.0.0.0:7070");  // from the file
  EXPECT_EQ(d.slots, 2);
  EXPECT_FALSE(d.insecure);
  // Repeated flags on the command line replace the file's list.
  EXPECT_THAT(d.labels, ElementsAre("a=1", "b=2"));
}

TEST(FlagsConfigTest, RepeatedFlagsReplaceTheirDefaultAndTakeOneString) {
  std::string path = WriteFile("one_label.toml", "label = \"os=linux\"\n");
  Daemon d;
  d.labels = {"default=1"};
  ASSERT_TRUE(d.Parse({"--config", path}).ok());
  EXPECT_THAT(d.labels, ElementsAre("os=linux"));

  std::string empty = WriteFile("no_labels.toml", "label = []\n");
  Daemon e;
  e.labels = {"default=1"};
  ASSERT_TRUE(e.Parse({"--config", empty}).ok());
  EXPECT_THAT(e.labels, IsEmpty());
}

TEST(FlagsConfigTest, UnknownKeyNamesFileLineAndKey) {
  std::string path =
      WriteFile("unknown.toml", "slots = 2\n\nlisten-on = \"x\"\n");
  Daemon d;
  absl::Status s = d.Parse({"--config", path}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), path +
                             ":3: key \"listen-on\": unknown key: not a "
                             "flag of this program (see --help)");
}

TEST(FlagsConfigTest, WrongTypesAreRefusedWithWhatWasWanted) {
  struct Case {
    std::string line;
    std::string message;
  } cases[] = {
      {"slots = \"8\"", "key \"slots\": wants an integer, not a string"},
      {"slots = 8.5", "key \"slots\": wants an integer, not a float"},
      {"insecure = \"yes\"",
       "key \"insecure\": wants true or false, not a string"},
      {"insecure = 1", "key \"insecure\": wants true or false, not an integer"},
      {"lease-timeout = 30",
       "key \"lease-timeout\": wants a duration string such as \"30s\", not "
       "an integer"},
      {"listen = 7070", "key \"listen\": wants a string, not an integer"},
      {"label = [\"a=1\", 2]",
       "key \"label\": arrays hold strings only, not "
       "an integer"},
      {"listen = [\"a\"]", "key \"listen\": wants a string, not an array"},
  };
  for (const Case& c : cases) {
    std::string path = WriteFile("types.toml", "\n" + c.line + "\n");
    Daemon d;
    absl::Status s = d.Parse({"--config", path}).status();
    EXPECT_EQ(s.message(), path + ":2: " + c.message) << c.line;
  }
}

TEST(FlagsConfigTest, BadValuesNameFileLineAndKey) {
  std::string path =
      WriteFile("bad_duration.toml", "lease-timeout = \"soon\"\n");
  Daemon d;
  EXPECT_EQ(d.Parse({"--config", path}).status().message(),
            path +
                ":1: key \"lease-timeout\": \"soon\" is not a duration "
                "such as 200ms or 5s");
  // Negative durations are refused as on the command line.
  std::string negative =
      WriteFile("negative.toml", "lease-timeout = \"-5s\"\n");
  Daemon e;
  EXPECT_THAT(
      e.Parse({"--config", negative}).status().message(),
      HasSubstr(":1: key \"lease-timeout\": \"-5s\" is not a duration"));
}

TEST(FlagsConfigTest, SyntaxErrorsAndTablesNameTheLine) {
  std::string path =
      WriteFile("syntax.toml", "slots = 2\nlisten = \"unterminated\n");
  Daemon d;
  absl::Status s = d.Parse({"--config", path}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr(path + ":2:"));

  std::string table =
      WriteFile("table.toml", "slots = 2\n[worker]\nslots = 3\n");
  Daemon e;
  EXPECT_THAT(e.Parse({"--config", table}).status().message(),
              HasSubstr(table + ":2: key \"worker\": tables are not used"));
}

TEST(FlagsConfigTest, CommandLineOnlyFlagsAreRefusedInTheFile) {
  for (const std::string key : {"config", "print-config"}) {
    std::string path = WriteFile("self.toml", key + " = \"x\"\n");
    Daemon d;
    EXPECT_EQ(d.Parse({"--config", path}).status().message(),
              path + ":1: key \"" + key + "\": only on the command line");
  }
}

TEST(FlagsConfigTest, MissingFileIsAnErrorNamingIt) {
  Daemon d;
  std::string path = ::testing::TempDir() + "/does-not-exist.toml";
  absl::Status s = d.Parse({"--config", path}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(),
            "cannot read config file " + path + ": No such file or directory");
  // A directory is not an empty configuration.
  Daemon e;
  EXPECT_EQ(
      e.Parse({"--config", ::testing::TempDir()}).status().message(),
      "cannot read config file " + ::testing::TempDir() + ": Is a directory");
}

TEST(FlagsConfigTest, ConfigGivenTwiceIsAnError) {
  std::string path = WriteFile("twice.toml", "slots = 2\n");
  Daemon d;
  EXPECT_EQ(d.Parse({"--config", path, "--config", path}).status().message(),
            "--config given more than once");
}

TEST(FlagsConfigTest, HelpDoesNotReadTheFile) {
  Daemon d;
  ASSERT_TRUE(d.Parse({"--config", "/nonexistent.toml", "--help"}).ok());
  EXPECT_TRUE(d.parser.help_requested());
  EXPECT_THAT(d.parser.Help(), HasSubstr("--config VALUE"));
  EXPECT_THAT(d.parser.Help(), HasSubstr("--print-config\n"));
}

TEST(FlagsConfigTest, PrintConfigShowsEveryFlagWithHelpAndRedactsSecrets) {
  Daemon d;
  d.parser.MarkSecret("token-file");
  ASSERT_TRUE(d.Parse({"--print-config", "--label", "a=\"quoted\"",
                       "--token-file", "/etc/secret"})
                  .ok());
  EXPECT_TRUE(d.parser.print_config_requested());
  EXPECT_EQ(d.parser.PrintConfig(),
            "# host:port to serve on\n"
            "listen = \"127.0.0.1:7070\"\n"
            "\n"
            "# file of tokens\n"
            "token-file = \"<redacted>\"\n"
            "\n"
            "# tasks at once\n"
            "slots = 4\n"
            "\n"
            "# no TLS off loopback\n"
            "insecure = false\n"
            "\n"
            "# silence before lost\n"
            "lease-timeout = \"30s\"\n"
            "\n"
            "# key=value; repeatable\n"
            "label = [\"a=\\\"quoted\\\"\"]\n");
}

TEST(FlagsConfigTest, PrintedConfigReadsBackToTheSameValues) {
  Daemon a;
  ASSERT_TRUE(a.Parse({"--listen", "[::1]:0", "--slots", "-3", "--insecure",
                       "--lease-timeout", "2h0m0.5s", "--label", "x=\\y",
                       "--label", "z"})
                  .ok());
  std::string path = WriteFile("printed.toml", a.parser.PrintConfig());
  Daemon b;
  ASSERT_TRUE(b.Parse({"--config", path}).ok());
  EXPECT_EQ(b.listen, "[::1]:0");
  EXPECT_EQ(b.slots, -3);
  EXPECT_TRUE(b.insecure);
  EXPECT_EQ(b.lease, absl::Hours(2) + absl::Milliseconds(500));
  EXPECT_THAT(b.labels, ElementsAre("x=\\y", "z"));
  EXPECT_EQ(b.parser.PrintConfig(), a.parser.PrintConfig());
}

TEST(FlagsConfigTest, LongHelpIsWrappedIntoCommentLines) {
  std::string value;
  FlagParser p("usage");
  p.AddString("x", &value, std::string(50, 'a') + " " + std::string(50, 'b'));
  EXPECT_EQ(p.PrintConfig(), "# " + std::string(50, 'a') + "\n# " +
                                 std::string(50, 'b') + "\nx = \"\"\n");
}

TEST(TomlQuoteTest, EscapesWhatTomlNeeds) {
  EXPECT_EQ(TomlQuote("a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\u0001\"");
}

}  // namespace
}  // namespace vitte::task
