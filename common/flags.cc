#include "common/flags.h"

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vitte::task {
namespace {

absl::Status BadValue(const std::string& name, const std::string& value,
                      absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--", name, ": \"", value, "\" is not ", expected));
}

}  // namespace

void FlagParser::AddString(std::string name, std::string* out,
                           std::string help) {
  std::string def = out->empty() ? "" : absl::StrCat("\"", *out, "\"");
  Add({name, std::move(help), std::move(def), false,
       [out](const std::string& v) {
         *out = v;
         return absl::OkStatus();
       }});
}

void FlagParser::AddInt(std::string name, int64_t* out, std::string help) {
  Add({name, std::move(help), absl::StrCat(*out), false,
       [out, name](const std::string& v) {
         if (!absl::SimpleAtoi(v, out)) return BadValue(name, v, "an integer");
         return absl::OkStatus();
       }});
}

void FlagParser::AddBool(std::string name, bool* out, std::string help) {
  Add({name, std::move(help), *out ? "true" : "false", true,
       [out, name](const std::string& v) {
         if (!absl::SimpleAtob(v, out)) return BadValue(name, v, "true or false");
         return absl::OkStatus();
       }});
}

void FlagParser::AddDuration(std::string name, absl::Duration* out,
                             std::string help) {
  Add({name, std::move(help), absl::FormatDuration(*out), false,
       [out, name](const std::string& v) {
         if (!absl::ParseDuration(v, out) || *out < absl::ZeroDuration()) {
           return BadValue(name, v, "a duration such as 200ms or 5s");
         }
         return absl::OkStatus();
       }});
}

void FlagParser::AddRepeated(std::string name, std::vector<std::string>* out,
                             std::string help) {
  Add({name, std::move(help), "", false, [out](const std::string& v) {
         out->push_back(v);
         return absl::OkStatus();
       }});
}

absl::StatusOr<std::vector<std::string>> FlagParser::Parse(int argc,
                                                           char** argv) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) positional.push_back(argv[i]);
      break;
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      positional.push_back(std::move(arg));
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    if (name == "help" || name == "h") {
      help_requested_ = true;
      return positional;
    }
    Flag* flag = nullptr;
    for (Flag& f : flags_) {
      if (f.name == name) flag = &f;
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value"));
      }
    }
    if (absl::Status s = flag->set(value); !s.ok()) return s;
  }
  return positional;
}

std::optional<int> FlagParser::ParseOrExitCode(int argc, char** argv,
                                               absl::string_view program) {
  absl::StatusOr<std::vector<std::string>> args = Parse(argc, argv);
  if (help_requested_) {
    std::cout << Help();
    return 0;
  }
  if (!args.ok()) {
    std::cerr << program << ": " << args.status().message() << "\n";
    return 2;
  }
  if (!args->empty()) {
    std::cerr << program << ": unexpected argument \"" << args->front()
              << "\"\n";
    return 2;
  }
  return std::nullopt;
}

std::string FlagParser::Help() const {
  std::string out = absl::StrCat(usage_, "\n\nFlags:\n");
  for (const Flag& f : flags_) {
    absl::StrAppend(&out, "  --", f.name, f.is_bool ? "" : " VALUE", "\n      ",
                    f.help);
    if (!f.default_text.empty()) {
      absl::StrAppend(&out, " (default: ", f.default_text, ")");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace vitte::task
