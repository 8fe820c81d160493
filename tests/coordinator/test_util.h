// Helpers shared by the coordinator core tests: a temp dir that cleans up
// after itself, Status assertions (Debian's Abseil has no status matchers),
// and builders for graph specs.
#ifndef VITTE_TESTS_COORDINATOR_TEST_UTIL_H_
#define VITTE_TESTS_COORDINATOR_TEST_UTIL_H_

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <memory>
#include <sstream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/graph_spec.h"
#include "coordinator/types.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace vitte::task::testing_util {

// A fresh directory under the test temp dir, removed with its contents on
// destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::path(::testing::TempDir()) / "vitte_core_XXXXXX")
            .string();
    if (mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp(" << pattern << ") failed";
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const {
    return (std::filesystem::path(path_) / name).string();
  }

 private:
  std::string path_;
};

// Sends the lines of spdlog's default logger (the message alone) to a string
// from `level` on, for its lifetime; then restores the logger before it,
// at level err (the tests' default).
class ScopedLogCapture {
 public:
  explicit ScopedLogCapture(spdlog::level::level_enum level)
      : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger->set_pattern("%v");
    spdlog::set_default_logger(logger);
    spdlog::set_level(level);
  }
  ~ScopedLogCapture() {
    spdlog::set_default_logger(previous_);
    spdlog::set_level(spdlog::level::err);
  }
  ScopedLogCapture(const ScopedLogCapture&) = delete;
  ScopedLogCapture& operator=(const ScopedLogCapture&) = delete;

  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

inline const absl::Status& ToStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace vitte::task::testing_util

#define VT_CONCAT_INNER_(a, b) a##b
#define VT_CONCAT_(a, b) VT_CONCAT_INNER_(a, b)

#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    const ::absl::Status vt_status_ =                                     \
        ::vitte::task::testing_util::ToStatus(expr);                      \
    ASSERT_TRUE(vt_status_.ok()) << #expr << ": " << vt_status_;          \
  } while (0)

#define EXPECT_OK(expr)                                                   \
  do {                                                                    \
    const ::absl::Status vt_status_ =                                     \
        ::vitte::task::testing_util::ToStatus(expr);                      \
    EXPECT_TRUE(vt_status_.ok()) << #expr << ": " << vt_status_;          \
  } while (0)

// `ASSERT_OK_AND_ASSIGN(auto x, Foo());`
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  VT_ASSERT_OK_AND_ASSIGN_IMPL_(VT_CONCAT_(vt_statusor_, __LINE__), lhs, expr)
#define VT_ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr)           \
  auto statusor = (expr);                                            \
  ASSERT_TRUE(statusor.ok()) << #expr << ": " << statusor.status();  \
  lhs = std::move(statusor).value()

// Checks the code of a Status or StatusOr, printing the status on failure.
#define EXPECT_CODE(expr, expected_code)                                  \
  do {                                                                    \
    const ::absl::Status vt_status_ =                                     \
        ::vitte::task::testing_util::ToStatus(expr);                      \
    EXPECT_EQ(vt_status_.code(), expected_code) << #expr << ": "          \
                                                << vt_status_;            \
  } while (0)

namespace vitte::task {

// gtest printers, so that a failed expectation reads "succeeded", not
// "4-byte object <04-00 00-00>". Found by argument-dependent lookup.
inline void PrintTo(TaskState s, std::ostream* os) { *os << TaskStateName(s); }
inline void PrintTo(GraphState s, std::ostream* os) { *os << GraphStateName(s); }
inline void PrintTo(AttemptState s, std::ostream* os) {
  *os << AttemptStateName(s);
}

}  // namespace vitte::task

namespace vitte::task::testing_util {

// A task running `echo <id>`, depending on `deps`.
inline TaskSpec MakeTask(std::string id, std::vector<std::string> deps = {},
                         int32_t priority = 0) {
  TaskSpec t;
  t.command = {"echo", id};
  t.id = std::move(id);
  t.deps = std::move(deps);
  t.priority = priority;
  return t;
}

inline GraphSpec MakeGraph(std::string name, std::vector<TaskSpec> tasks) {
  GraphSpec g;
  g.name = std::move(name);
  g.tasks = std::move(tasks);
  return g;
}

}  // namespace vitte::task::testing_util

#endif  // VITTE_TESTS_COORDINATOR_TEST_UTIL_H_
