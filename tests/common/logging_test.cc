#include "common/logging.h"

#include <memory>
#include <regex>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "spdlog/logger.h"
#include "spdlog/sinks/ostream_sink.h"

namespace vitte::task {
namespace {

TEST(LoggingTest, JsonLinesEscapeTheMessage) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("test", sink);
  logger.set_formatter(MakeJsonLogFormatter());
  logger.warn("task \"a\\b\"\nline two\x01");
  logger.info("plain");
  logger.flush();
  const std::string text = out.str();
  std::istringstream lines(text);
  std::string first, second;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  const std::regex time(
      R"(\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",)");
  EXPECT_TRUE(std::regex_search(first, time)) << first;
  EXPECT_EQ(first.substr(first.find("\"level\"")),
            R"("level":"warning","msg":"task \"a\\b\"\nline two\u0001"})");
  EXPECT_EQ(second.substr(second.find("\"level\"")),
            R"("level":"info","msg":"plain"})");
  EXPECT_EQ(text.back(), '\n');
}

TEST(LoggingTest, UnknownLevelOrFormatIsRefused) {
  EXPECT_EQ(SetUpLogging("loud").code(), absl::StatusCode::kInvalidArgument);
  absl::Status s = SetUpLogging("info", "xml");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("\"xml\""), std::string::npos);
}

}  // namespace
}  // namespace vitte::task
