#include "coordinator/token_store.h"

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "coordinator/store.h"
#include "coordinator/auth_token.h"

namespace vitte::task {
namespace {

// The first schema with the tokens table (see Store's migrations).
constexpr int64_t kTokensSchema = 7;

constexpr char kColumns[] =
    "id, name, role, created_ms, revoked_ms, secret_sha256";

absl::Status CheckName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                c == '.' || c == '_' || c == '-' || c == '@');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "token name \"", absl::CEscape(name),
      "\" must be 1 to 64 of A-Z a-z 0-9 . _ - @"));
}

absl::StatusOr<TokenRecord> ReadRow(const sql::Statement& s) {
  TokenRecord r;
  r.id = s.ColumnText(0);
  r.name = s.ColumnText(1);
  ASSIGN_OR_RETURN(r.role, ParseRole(s.ColumnText(2)));
  r.created_at_ms = s.ColumnInt(3);
  r.revoked_at_ms = s.ColumnInt(4);
  r.secret_sha256 = s.ColumnBlob(5);
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Open(
    const std::string& path) {
  // SQLite would create a missing file; a typo in --db must not.
  if (access(path.c_str(), F_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no database \"", path, "\": start vitte-taskd with --db ", path,
        " once, or give the right --db"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<sql::Database> db,
                   sql::Database::Open(path));
  // The daemon may be committing: wait for its write lock rather than fail.
  RETURN_IF_ERROR(db->Execute("PRAGMA busy_timeout = 5000"));
  ASSIGN_OR_RETURN(int64_t version, db->QueryInt("PRAGMA user_version"));
  if (version > Store::kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database \"", path, "\" has schema version ", version,
        ", newer than this vitte-taskd understands (", Store::kSchemaVersion,
        "); use the vitte-taskd that wrote it"));
  }
  if (version < kTokensSchema) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database \"", path, "\" has schema version ", version,
        ", older than the tokens (", kTokensSchema,
        "): start this vitte-taskd on it once to upgrade it"));
  }
  return std::unique_ptr<TokenStore>(new TokenStore(std::move(db)));
}

absl::StatusOr<CreatedToken> TokenStore::Create(absl::string_view name,
                                                Role role, int64_t now_ms) {
  RETURN_IF_ERROR(CheckName(name));
  ASSIGN_OR_RETURN(TokenParts parts, GenerateToken());
  CreatedToken created;
  created.record.id = parts.id;
  created.record.name = std::string(name);
  created.record.role = role;
  created.record.created_at_ms = now_ms;
  created.record.secret_sha256 = HashSecret(parts.secret);
  created.text = parts.Text();

  absl::MutexLock lock(&mu_);
  sql::Transaction txn(*db_);
  RETURN_IF_ERROR(txn.begin_status());
  ASSIGN_OR_RETURN(auto taken, db_->Prepare("SELECT 1 FROM tokens WHERE name "
                                            "= ?1 AND revoked_ms = 0"));
  taken.Bind(1, name);
  ASSIGN_OR_RETURN(bool exists, taken.Step());
  if (exists) {
    return absl::AlreadyExistsError(
        absl::StrCat("a token named \"", name,
                     "\" exists; revoke it first to replace it"));
  }
  ASSIGN_OR_RETURN(auto insert,
                   db_->Prepare(absl::StrCat("INSERT INTO tokens (", kColumns,
                                             ") VALUES (?1, ?2, ?3, ?4, 0, ?5)")));
  insert.Bind(1, created.record.id)
      .Bind(2, created.record.name)
      .Bind(3, RoleName(role))
      .Bind(4, now_ms)
      .BindBlob(5, created.record.secret_sha256);
  RETURN_IF_ERROR(insert.Run());
  RETURN_IF_ERROR(txn.Commit());
  return created;
}

absl::StatusOr<std::vector<TokenRecord>> TokenStore::List() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(auto s, db_->Prepare(absl::StrCat(
                               "SELECT ", kColumns,
                               " FROM tokens ORDER BY created_ms, id")));
  std::vector<TokenRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(TokenRecord r, ReadRow(s));
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<TokenRecord> TokenStore::Revoke(absl::string_view name_or_id,
                                               int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  sql::Transaction txn(*db_);
  RETURN_IF_ERROR(txn.begin_status());
  // An id names one token ever, a name one token not revoked. The id is
  // tried first: a name may look like another token's id.
  ASSIGN_OR_RETURN(auto find, db_->Prepare(absl::StrCat(
                                  "SELECT ", kColumns,
                                  " FROM tokens WHERE revoked_ms = 0 AND "
                                  "(id = ?1 OR name = ?1) ORDER BY id = ?1 "
                                  "DESC LIMIT 1")));
  find.Bind(1, name_or_id);
  ASSIGN_OR_RETURN(bool row, find.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat(
        "no valid token named \"", absl::CEscape(name_or_id),
        "\" or with that id (see vitte-taskd token list)"));
  }
  ASSIGN_OR_RETURN(TokenRecord record, ReadRow(find));
  find.Reset();
  ASSIGN_OR_RETURN(auto revoke, db_->Prepare("UPDATE tokens SET revoked_ms = "
                                             "?2 WHERE id = ?1"));
  revoke.Bind(1, record.id).Bind(2, now_ms);
  RETURN_IF_ERROR(revoke.Run());
  RETURN_IF_ERROR(txn.Commit());
  record.revoked_at_ms = now_ms;
  return record;
}

absl::StatusOr<TokenRecord> TokenStore::Find(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  // Once per authenticated call: compiled once.
  if (!find_.has_value()) {
    ASSIGN_OR_RETURN(find_, db_->Prepare(absl::StrCat(
                                "SELECT ", kColumns, " FROM tokens WHERE id = ?1")));
  }
  sql::Statement& s = *find_;
  s.Bind(1, id);
  absl::StatusOr<bool> row = s.Step();
  absl::StatusOr<TokenRecord> found =
      !row.ok() ? absl::StatusOr<TokenRecord>(row.status())
      : *row    ? ReadRow(s)
                : absl::NotFoundError("no such token");
  s.Reset();  // ends the read transaction, and is ready for the next call
  return found;
}

}  // namespace vitte::task
