// Reads the daemons' TOML configuration files (--config) into flat
// key/value entries for FlagParser. The only file that includes toml++: it
// is a large header-only library, compiled once here.
#ifndef VITTE_COMMON_CONFIG_FILE_H_
#define VITTE_COMMON_CONFIG_FILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vitte::task {

// One top-level `key = value` of a configuration file.
struct ConfigEntry {
  enum class Type { kString, kInteger, kBool, kStringArray, kOther };
  std::string key;
  int line = 0;
  Type type = Type::kOther;
  // The value as a flag would spell it on the command line: one element for
  // a scalar ("30s", "3", "true"), one per element for an array of strings,
  // none for kOther.
  std::vector<std::string> values;
  // For error messages: "a string", "an integer", "a float", ...
  std::string type_name;
};

// Reads and parses `path`. Entries come in the file's order
// (by line). NOT_FOUND (or
// another errno-derived code) when the file cannot be read; INVALID_ARGUMENT
// "PATH:LINE: ..." for a TOML syntax error, a table (keys are flag names at
// the top level) or an array with other than strings in it.
absl::StatusOr<std::vector<ConfigEntry>> ReadConfigFile(
    const std::string& path);

// `value` as a TOML basic string, quotes included: "a\"b".
std::string TomlQuote(absl::string_view value);

}  // namespace vitte::task

#endif  // VITTE_COMMON_CONFIG_FILE_H_
