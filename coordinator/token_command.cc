#include "coordinator/token_command.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/json_quote.h"
#include "common/status_macros.h"
#include "coordinator/store.h"
#include "coordinator/token_store.h"

namespace vitte::task {
namespace {

constexpr char kUsage[] =
    "vitte-taskd token: manage the bearer tokens of a vitte-taskd.\n"
    "Usage: vitte-taskd token create --role ROLE --name NAME [--db FILE]\n"
    "       vitte-taskd token list [--db FILE] [--output json]\n"
    "       vitte-taskd token revoke NAME|ID [--db FILE]\n"
    "Roles: read (graphs, logs, workers), submit (read, plus submitting, and\n"
    "cancelling or retrying its own graphs), admin (every client call),\n"
    "worker (the worker service only). A new token is printed once, alone\n"
    "on stdout; only its SHA-256 is stored. Works while the daemon runs:\n"
    "the change counts from the daemon's next call.";

std::string FormatMs(int64_t ms) {
  if (ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

// Run as root (the usual way to reach a daemon's state directory, owned by
// the daemon's user), the command becomes that user, shut in that
// directory, before it opens anything there: the files it creates are the
// daemon's, and a symlink planted in the directory reaches nothing outside
// it. chroot, rather than the directory's path: SQLite opens files by
// absolute paths, and the daemon's user may not be allowed through the path
// to its own directory (systemd's /var/lib/private is root's). Returns the
// path to open the database by from then on.
absl::StatusOr<std::string> BecomeDatabaseDirectoryOwner(const std::string& db) {
  if (geteuid() != 0) return db;
  const std::filesystem::path path(db);
  const std::string dir =
      path.has_parent_path() ? path.parent_path().string() : ".";
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot find the directory \"",
                                            dir, "\": ", std::strerror(errno)));
  }
  if (st.st_uid == 0) return db;
  if (chdir(dir.c_str()) != 0 || chroot(".") != 0 || chdir("/") != 0 ||
      setgroups(0, nullptr) != 0 || setgid(st.st_gid) != 0 ||
      setuid(st.st_uid) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot become the owner (uid ", st.st_uid, ") of \"",
                     dir, "\": ", std::strerror(errno)));
  }
  return "/" + path.filename().string();
}

// The token table of `db`, and the store when this command holds the
// database: one that no daemon holds is created or upgraded first (so that
// an admin token can exist before the first start) and stays locked until
// the command is done (a daemon started meanwhile fails to lock it, and
// systemd starts it again); a running daemon has done all that.
struct OpenedTokens {
  std::unique_ptr<Store> store;  // null while a daemon holds the database
  std::unique_ptr<TokenStore> tokens;
};

absl::StatusOr<OpenedTokens> OpenTokens(const std::string& db,
                                        std::ostream& err) {
  ASSIGN_OR_RETURN(const std::string path, BecomeDatabaseDirectoryOwner(db));
  struct stat st;
  const bool existed = stat(path.c_str(), &st) == 0;
  OpenedTokens opened;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path);
  if (store.ok()) {
    opened.store = *std::move(store);
  } else if (!absl::IsFailedPrecondition(store.status())) {
    return store.status();
  }
  if (!existed) err << "created the database \"" << db << "\"\n";
  ASSIGN_OR_RETURN(opened.tokens, TokenStore::Open(path));
  return opened;
}

int Fail(std::ostream& err, const absl::Status& status) {
  err << "vitte-taskd token: " << status.message() << "\n";
  return 1;
}

}  // namespace

int RunTokenCommand(int argc, char** argv, std::ostream& out,
                    std::ostream& err) {
  std::string db = "vitte-taskd.db";
  std::string role_name;
  std::string name;
  std::string output = "text";
  FlagParser flags(kUsage);
  flags.AddString("db", &db, "the daemon's SQLite database (its --db)");
  flags.AddString("role", &role_name,
                  "create: read, submit, admin or worker");
  flags.AddString("name", &name,
                  "create: who holds the token (a person, a CI job; for a "
                  "worker, its --name, or the NAME of workers named "
                  "NAME/...); unique among valid tokens");
  flags.AddString("output", &output, "list: text or json");
  // argv[1] is "token": parse from the action on.
  absl::StatusOr<std::vector<std::string>> args = flags.Parse(argc - 1, argv + 1);
  if (flags.help_requested()) {
    out << flags.Help();
    return 0;
  }
  if (!args.ok()) {
    err << "vitte-taskd token: " << args.status().message() << "\n";
    return 2;
  }
  const std::string action = args->empty() ? "" : (*args)[0];
  const int64_t now_ms = Clock::Real().NowMs();
  if (action == "create" && args->size() == 1) {
    if (name.empty() || role_name.empty()) {
      err << "vitte-taskd token create: --role and --name are required\n";
      return 2;
    }
    absl::StatusOr<Role> role = ParseRole(role_name);
    if (!role.ok()) return Fail(err, role.status());
    absl::StatusOr<OpenedTokens> opened = OpenTokens(db, err);
    if (!opened.ok()) return Fail(err, opened.status());
    TokenStore* tokens = opened->tokens.get();
    absl::StatusOr<CreatedToken> created =
        tokens->Create(name, *role, now_ms);
    if (!created.ok()) return Fail(err, created.status());
    err << "token \"" << created->record.name << "\" (role "
        << RoleName(created->record.role) << ", id " << created->record.id
        << ") created. It is shown this once: keep it in a file only its "
           "user can read.\n";
    out << created->text << "\n";
    return 0;
  }
  if (action == "list" && args->size() == 1) {
    if (output != "text" && output != "json") {
      err << "vitte-taskd token list: --output must be text or json\n";
      return 2;
    }
    absl::StatusOr<OpenedTokens> opened = OpenTokens(db, err);
    if (!opened.ok()) return Fail(err, opened.status());
    TokenStore* tokens = opened->tokens.get();
    absl::StatusOr<std::vector<TokenRecord>> list = tokens->List();
    if (!list.ok()) return Fail(err, list.status());
    if (output == "json") {
      for (const TokenRecord& t : *list) {
        out << "{\"id\":" << JsonQuote(t.id) << ",\"name\":"
            << JsonQuote(t.name) << ",\"role\":" << JsonQuote(RoleName(t.role))
            << ",\"created_at_ms\":" << t.created_at_ms
            << ",\"revoked_at_ms\":" << t.revoked_at_ms << "}\n";
      }
      return 0;
    }
    out << "ID                NAME                             ROLE    "
           "CREATED               REVOKED\n";
    for (const TokenRecord& t : *list) {
      std::string line = absl::StrCat(t.id, "  ", t.name);
      line.resize(std::max<size_t>(line.size() + 1, 51), ' ');
      absl::StrAppend(&line, RoleName(t.role));
      line.resize(std::max<size_t>(line.size() + 1, 59), ' ');
      absl::StrAppend(&line, FormatMs(t.created_at_ms), "  ",
                      FormatMs(t.revoked_at_ms));
      out << line << "\n";
    }
    return 0;
  }
  if (action == "revoke" && args->size() == 2) {
    absl::StatusOr<OpenedTokens> opened = OpenTokens(db, err);
    if (!opened.ok()) return Fail(err, opened.status());
    TokenStore* tokens = opened->tokens.get();
    absl::StatusOr<TokenRecord> revoked = tokens->Revoke((*args)[1], now_ms);
    if (!revoked.ok()) return Fail(err, revoked.status());
    out << "revoked token \"" << revoked->name << "\" (id " << revoked->id
        << ", role " << RoleName(revoked->role) << ")\n";
    return 0;
  }
  err << flags.Help();
  return 2;
}

}  // namespace vitte::task
