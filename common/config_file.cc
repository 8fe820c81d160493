#include "common/config_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

// Our code does not throw: toml++ reports errors in its parse_result
// instead. Header-only, so that the packages need no libtomlplusplus3 (and
// these macros apply to this file alone).
#define TOML_EXCEPTIONS 0
#define TOML_HEADER_ONLY 1
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

namespace vitte::task {
namespace {

std::string TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "an unknown type";
  }
}

absl::Status ErrorAt(const std::string& path, int line, absl::string_view key,
                     absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ":", line, ": key \"", key, "\": ", what));
}

}  // namespace

absl::StatusOr<std::vector<ConfigEntry>> ReadConfigFile(
    const std::string& path) {
  // Read here rather than by toml::parse_file, whose "could not be opened"
  // does not say why; read(2) also reports a directory (EISDIR).
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // ErrnoToStatus appends ": " and strerror(errno).
    return absl::ErrnoToStatus(errno, path);
  }
  std::string content;
  char buffer[8192];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status error = absl::ErrnoToStatus(errno, path);
      close(fd);
      return error;
    }
    content.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  toml::parse_result parsed = toml::parse(content, path);
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    return absl::InvalidArgumentError(
        absl::StrFormat("%s:%d:%d: %s", path, e.source().begin.line,
                        e.source().begin.column, e.description()));
  }
  std::vector<ConfigEntry> entries;
  for (auto&& [key, node] : parsed.table()) {
    ConfigEntry entry;
    entry.key = std::string(key.str());
    entry.line = static_cast<int>(key.source().begin.line);
    entry.type_name = TypeName(node);
    if (const auto* s = node.as_string()) {
      entry.type = ConfigEntry::Type::kString;
      entry.values.push_back(s->get());
    } else if (const auto* i = node.as_integer()) {
      entry.type = ConfigEntry::Type::kInteger;
      entry.values.push_back(absl::StrCat(i->get()));
    } else if (const auto* b = node.as_boolean()) {
      entry.type = ConfigEntry::Type::kBool;
      entry.values.push_back(b->get() ? "true" : "false");
    } else if (const auto* a = node.as_array()) {
      entry.type = ConfigEntry::Type::kStringArray;
      for (const toml::node& element : *a) {
        const auto* s = element.as_string();
        if (s == nullptr) {
          return ErrorAt(path, static_cast<int>(element.source().begin.line),
                         entry.key,
                         absl::StrCat("arrays hold strings only, not ",
                                      TypeName(element)));
        }
        entry.values.push_back(s->get());
      }
    } else if (node.is_table()) {
      // "[section]" would silently namespace flags that are looked up by
      // their command-line names; one flat level keeps the file and
      // --help in one-to-one correspondence.
      return ErrorAt(path, entry.line, entry.key,
                     "tables are not used: write every flag as a top-level "
                     "key, before any [section]");
    }
    entries.push_back(std::move(entry));
  }
  // toml::table is ordered by key; the file's order makes the first error
  // reported the first one an operator reads.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const ConfigEntry& a, const ConfigEntry& b) {
                     return a.line < b.line;
                   });
  return entries;
}

std::string TomlQuote(absl::string_view value) {
  std::string out = "\"";
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\u%04X", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

}  // namespace vitte::task
