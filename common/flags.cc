#include "common/flags.h"

#include <iostream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config_file.h"

namespace vitte::task {
namespace {

absl::Status BadValue(const std::string& value, absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("\"", value, "\" is not ", expected));
}

// `text` as "# " comment lines of at most ~78 columns (unless a word is
// longer), split at spaces and newlines.
std::string CommentLines(absl::string_view text) {
  std::string out;
  std::string line;
  for (absl::string_view word :
       absl::StrSplit(text, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
    if (!line.empty() && line.size() + 1 + word.size() > 76) {
      absl::StrAppend(&out, "# ", line, "\n");
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  if (!line.empty()) absl::StrAppend(&out, "# ", line, "\n");
  return out;
}

}  // namespace

FlagParser::Flag& FlagParser::Add(std::string name, std::string help,
                                  std::string default_text, Kind kind) {
  Flag& flag = flags_.emplace_back();
  flag.name = std::move(name);
  flag.help = std::move(help);
  flag.default_text = std::move(default_text);
  flag.kind = kind;
  return flag;
}

void FlagParser::AddString(std::string name, std::string* out,
                           std::string help) {
  std::string def = out->empty() ? "" : absl::StrCat("\"", *out, "\"");
  Flag& flag =
      Add(std::move(name), std::move(help), std::move(def), Kind::kString);
  flag.set = [out](const std::string& v) {
    *out = v;
    return absl::OkStatus();
  };
  flag.toml_value = [out] { return TomlQuote(*out); };
}

void FlagParser::AddInt(std::string name, int64_t* out, std::string help) {
  Flag& flag =
      Add(std::move(name), std::move(help), absl::StrCat(*out), Kind::kInt);
  flag.set = [out](const std::string& v) {
    if (!absl::SimpleAtoi(v, out)) return BadValue(v, "an integer");
    return absl::OkStatus();
  };
  flag.toml_value = [out] { return absl::StrCat(*out); };
}

void FlagParser::AddBool(std::string name, bool* out, std::string help) {
  Flag& flag = Add(std::move(name), std::move(help), *out ? "true" : "false",
                   Kind::kBool);
  flag.set = [out](const std::string& v) {
    if (!absl::SimpleAtob(v, out)) return BadValue(v, "true or false");
    return absl::OkStatus();
  };
  flag.toml_value = [out] { return std::string(*out ? "true" : "false"); };
}

void FlagParser::AddDuration(std::string name, absl::Duration* out,
                             std::string help) {
  Flag& flag = Add(std::move(name), std::move(help), absl::FormatDuration(*out),
                   Kind::kDuration);
  flag.set = [out](const std::string& v) {
    if (!absl::ParseDuration(v, out) || *out < absl::ZeroDuration()) {
      return BadValue(v, "a duration such as 200ms or 5s");
    }
    return absl::OkStatus();
  };
  flag.toml_value = [out] { return TomlQuote(absl::FormatDuration(*out)); };
}

void FlagParser::AddRepeated(std::string name, std::vector<std::string>* out,
                             std::string help) {
  Flag& flag = Add(std::move(name), std::move(help), "", Kind::kRepeated);
  flag.set = [out](const std::string& v) {
    out->push_back(v);
    return absl::OkStatus();
  };
  flag.toml_value = [out] {
    std::vector<std::string> quoted;
    for (const std::string& v : *out) quoted.push_back(TomlQuote(v));
    return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
  };
  flag.clear = [out] { out->clear(); };
}

void FlagParser::MarkSecret(const std::string& name) {
  Flag* flag = Find(name);
  if (flag == nullptr) return;
  flag->secret = true;
  // --help shows defaults too.
  if (!flag->default_text.empty()) flag->default_text = "<redacted>";
}

void FlagParser::AddConfigFileFlag(std::string name) {
  config_flag_ = name;
  Flag& flag = Add(std::move(name),
                   "TOML file of flags (keys are flag names, e.g. "
                   "lease-timeout = \"30s\"), applied before the command "
                   "line, which overrides it; see --print-config",
                   "", Kind::kString);
  flag.command_line_only = true;
  flag.set = [this](const std::string& v) {
    config_path_ = v;
    return absl::OkStatus();
  };
}

void FlagParser::AddPrintConfigFlag(std::string name) {
  Flag& flag = Add(std::move(name),
                   "print the configuration that the other flags and "
                   "--config give, as a TOML file for --config, and exit",
                   "", Kind::kBool);
  flag.command_line_only = true;
  flag.set = [this](const std::string& v) {
    if (!absl::SimpleAtob(v, &print_config_)) {
      return BadValue(v, "true or false");
    }
    return absl::OkStatus();
  };
}

FlagParser::Flag* FlagParser::Find(const std::string& name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status FlagParser::Tokenize(int argc, char** argv,
                                  std::vector<Token>& tokens,
                                  std::vector<std::string>& positional) {
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
      return absl::OkStatus();
    }
    Flag* flag = Find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (flag->kind == Kind::kBool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value"));
      }
    }
    tokens.push_back({flag, std::move(value)});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> FlagParser::Parse(int argc,
                                                           char** argv) {
  std::vector<Token> tokens;
  std::vector<std::string> positional;
  if (absl::Status s = Tokenize(argc, argv, tokens, positional); !s.ok()) {
    return s;
  }
  if (help_requested_) return positional;
  // The file goes first wherever --config stands, so that any flag on the
  // command line overrides it.
  if (!config_flag_.empty()) {
    const Token* config = nullptr;
    for (const Token& t : tokens) {
      if (t.flag->name != config_flag_) continue;
      if (config != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", config_flag_, " given more than once"));
      }
      config = &t;
    }
    if (config != nullptr) {
      if (absl::Status s = ApplyConfigFile(config->value); !s.ok()) return s;
    }
  }
  absl::flat_hash_set<const Flag*> seen;
  for (Token& t : tokens) {
    if (t.flag->clear && seen.insert(t.flag).second) t.flag->clear();
    if (absl::Status s = t.flag->set(t.value); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", t.flag->name, ": ", s.message()));
    }
  }
  return positional;
}

absl::Status FlagParser::ApplyConfigFile(const std::string& path) {
  absl::StatusOr<std::vector<ConfigEntry>> entries = ReadConfigFile(path);
  if (!entries.ok()) {
    if (absl::IsInvalidArgument(entries.status())) return entries.status();
    return absl::Status(
        entries.status().code(),
        absl::StrCat("cannot read config file ", entries.status().message()));
  }
  for (const ConfigEntry& e : *entries) {
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", e.line, ": key \"", e.key, "\": ", what));
    };
    Flag* flag = Find(e.key);
    if (flag == nullptr) {
      return error("unknown key: not a flag of this program (see --help)");
    }
    if (flag->command_line_only) return error("only on the command line");
    using Type = ConfigEntry::Type;
    Type want = Type::kString;
    absl::string_view want_name = "a string";
    switch (flag->kind) {
      case Kind::kString:
        break;
      case Kind::kDuration:
        want_name = "a duration string such as \"30s\"";
        break;
      case Kind::kInt:
        want = Type::kInteger;
        want_name = "an integer";
        break;
      case Kind::kBool:
        want = Type::kBool;
        want_name = "true or false";
        break;
      case Kind::kRepeated:
        want = Type::kStringArray;
        want_name = "an array of strings";
        break;
    }
    // A single string for a repeated flag reads as a one-element array.
    bool ok = e.type == want ||
              (flag->kind == Kind::kRepeated && e.type == Type::kString);
    if (!ok) {
      return error(absl::StrCat("wants ", want_name, ", not ", e.type_name));
    }
    if (flag->clear) flag->clear();
    for (const std::string& v : e.values) {
      if (absl::Status s = flag->set(v); !s.ok()) return error(s.message());
    }
  }
  return absl::OkStatus();
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
  if (print_config_) {
    std::cout << PrintConfig();
    return 0;
  }
  return std::nullopt;
}

std::string FlagParser::Help() const {
  std::string out = absl::StrCat(usage_, "\n\nFlags:\n");
  for (const Flag& f : flags_) {
    absl::StrAppend(&out, "  --", f.name, f.kind == Kind::kBool ? "" : " VALUE",
                    "\n      ", f.help);
    if (!f.default_text.empty()) {
      absl::StrAppend(&out, " (default: ", f.default_text, ")");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string FlagParser::PrintConfig() const {
  std::string out;
  for (const Flag& f : flags_) {
    if (f.command_line_only) continue;
    std::string value = f.toml_value();
    // Empty values ("", []) give nothing away and show what is unset.
    if (f.secret && value != "\"\"" && value != "[]") {
      value = f.kind == Kind::kRepeated ? "[\"<redacted>\"]" : "\"<redacted>\"";
    }
    absl::StrAppend(&out, out.empty() ? "" : "\n", CommentLines(f.help), f.name,
                    " = ", value, "\n");
  }
  return out;
}

}  // namespace vitte::task
