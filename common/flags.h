// A small command-line parser for the daemons and the CLI: GNU-style long
// flags with dashes (--log-level debug, --log-level=debug), repeatable
// flags, durations ("200ms", "5s"), positional arguments anywhere, "--" to
// end flags. Abseil's flags library would force underscores on users.
#ifndef VITTE_COMMON_FLAGS_H_
#define VITTE_COMMON_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vitte::task {

// Not thread-safe; used once at start-up. The pointers given to Add* must
// outlive Parse; they hold the defaults beforehand.
class FlagParser {
 public:
  explicit FlagParser(std::string usage) : usage_(std::move(usage)) {}

  void AddString(std::string name, std::string* out, std::string help);
  void AddInt(std::string name, int64_t* out, std::string help);
  void AddBool(std::string name, bool* out, std::string help);
  void AddDuration(std::string name, absl::Duration* out, std::string help);
  // Each occurrence appends one value.
  void AddRepeated(std::string name, std::vector<std::string>* out,
                   std::string help);

  // Parses argv[1..]. Returns the positional arguments. INVALID_ARGUMENT
  // names the flag for an unknown flag, a missing or malformed value.
  // `--help` sets help_requested() and stops parsing.
  absl::StatusOr<std::vector<std::string>> Parse(int argc, char** argv);
  bool help_requested() const { return help_requested_; }
  // For a program that takes no positional argument: parses, and when the
  // program must not go on prints the help (to stdout) or the error (to
  // stderr, prefixed with `program`) and returns the exit code, 0 or 2.
  std::optional<int> ParseOrExitCode(int argc, char** argv,
                                     absl::string_view program);
  // The usage line followed by every flag, its default and help.
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    absl::AnyInvocable<absl::Status(const std::string&)> set;
  };
  void Add(Flag flag) { flags_.push_back(std::move(flag)); }

  std::string usage_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

}  // namespace vitte::task

#endif  // VITTE_COMMON_FLAGS_H_
