// A small command-line parser for the daemons and the CLI: GNU-style long
// flags with dashes (--log-level debug, --log-level=debug), repeatable
// flags, durations ("200ms", "5s"), positional arguments anywhere, "--" to
// end flags. Abseil's flags library would force underscores on users.
//
// Optionally (AddConfigFileFlag) every flag can also be set from a TOML file
// whose top-level keys are the flag names: the file is applied first, then
// the command line, so flags override it.
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
// outlive Parse and PrintConfig; they hold the defaults beforehand. Not to
// be moved once AddConfigFileFlag or AddPrintConfigFlag was called.
class FlagParser {
 public:
  explicit FlagParser(std::string usage) : usage_(std::move(usage)) {}

  void AddString(std::string name, std::string* out, std::string help);
  void AddInt(std::string name, int64_t* out, std::string help);
  void AddBool(std::string name, bool* out, std::string help);
  void AddDuration(std::string name, absl::Duration* out, std::string help);
  // Each occurrence appends one value. The first occurrence in a source
  // (the config file, then the command line) replaces what came before, so
  // `--label a` on the command line replaces the file's `label = [...]`.
  void AddRepeated(std::string name, std::vector<std::string>* out,
                   std::string help);
  // Marks an added flag as secret: PrintConfig shows "<redacted>" instead of
  // its value (unless the value is empty, which gives nothing away), and so
  // does Help for its default.
  void MarkSecret(const std::string& name);

  // Adds --`name` FILE (usually "config"): Parse reads that TOML file and
  // applies it before the rest of the command line. Given at most once; the
  // key itself is refused in the file.
  void AddConfigFileFlag(std::string name);
  // Adds --`name` (usually "print-config"): ParseOrExitCode prints
  // PrintConfig() to stdout and returns exit code 0.
  void AddPrintConfigFlag(std::string name);

  // Parses argv[1..]. Returns the positional arguments. INVALID_ARGUMENT
  // names the flag for an unknown flag, a missing or malformed value, or
  // names the file, line and key for a bad entry of the config file; a
  // config file that cannot be read gives the code of its errno (NOT_FOUND,
  // PERMISSION_DENIED...) and names the file. `--help` sets
  // help_requested() and stops parsing (the config file is not read).
  absl::StatusOr<std::vector<std::string>> Parse(int argc, char** argv);
  bool help_requested() const { return help_requested_; }
  bool print_config_requested() const { return print_config_; }
  // For a program that takes no positional argument: parses, and when the
  // program must not go on prints the help or the configuration (to stdout)
  // or the error (to stderr, prefixed with `program`) and returns the exit
  // code, 0 or 2.
  std::optional<int> ParseOrExitCode(int argc, char** argv,
                                     absl::string_view program);

  // Applies the TOML file `path` as if its entries were flags. Errors as
  // for Parse. Exposed for tests; Parse calls it for --config.
  absl::Status ApplyConfigFile(const std::string& path);

  // The usage line followed by every flag, its default and help.
  std::string Help() const;
  // Every flag a config file accepts, with its current value, as a TOML
  // file: each key preceded by its help as a comment. Read back with
  // --config, it sets every flag to the value it has now.
  std::string PrintConfig() const;

 private:
  enum class Kind { kString, kInt, kBool, kDuration, kRepeated };
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    Kind kind = Kind::kString;
    bool secret = false;
    // --config and --print-config: meaningless in a file, and not printed.
    bool command_line_only = false;
    // Sets the flag from its command-line spelling. The error message says
    // what is wrong with the value; the caller says where it came from.
    absl::AnyInvocable<absl::Status(const std::string&)> set;
    // The current value as a TOML value ("30s" quoted, 3, ["a", "b"]);
    // unset for command_line_only flags.
    absl::AnyInvocable<std::string() const> toml_value;
    // Repeated flags only: forgets the values of an earlier source.
    absl::AnyInvocable<void()> clear;
  };
  struct Token {
    Flag* flag;
    std::string value;
  };
  // Appends a flag; the caller sets its functions.
  Flag& Add(std::string name, std::string help, std::string default_text,
            Kind kind);
  Flag* Find(const std::string& name);
  // Splits argv into flags with their values and positional arguments.
  absl::Status Tokenize(int argc, char** argv, std::vector<Token>& tokens,
                        std::vector<std::string>& positional);

  std::string usage_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
  std::string config_flag_;  // empty: no --config
  std::string config_path_;
  bool print_config_ = false;
};

}  // namespace vitte::task

#endif  // VITTE_COMMON_FLAGS_H_
