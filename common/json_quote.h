// A string as a JSON string literal. Header-only: the log formatter and
// the CLI's graph export both need it, and neither should link the other.
#ifndef VITTE_COMMON_JSON_QUOTE_H_
#define VITTE_COMMON_JSON_QUOTE_H_

#include <cstdio>
#include <string>

#include "absl/strings/string_view.h"

namespace vitte::task {

// `s` in double quotes, with quotes, backslashes and control characters
// escaped (\n, \t, \r by name, the others as \u00XX). Other bytes pass as
// they are: UTF-8 stays UTF-8.
inline std::string JsonQuote(absl::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace vitte::task

#endif  // VITTE_COMMON_JSON_QUOTE_H_
