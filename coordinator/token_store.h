// The bearer tokens of a daemon, in its database (table `tokens`, schema 7).
// Used by the running daemon to check tokens, and by `vitte-taskd token`
// to manage them while the daemon runs: each has its own connection, and
// SQLite's WAL lets the command write while the daemon reads, so a token
// created or revoked counts from the daemon's next call check.
#ifndef VITTE_COORDINATOR_TOKEN_STORE_H_
#define VITTE_COORDINATOR_TOKEN_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/sqlite.h"
#include "coordinator/role.h"

namespace vitte::task {

struct TokenRecord {
  std::string id;    // public part of the token (see auth_token.h)
  std::string name;  // who holds it: unique among tokens not revoked
  Role role = Role::kRead;
  int64_t created_at_ms = 0;
  int64_t revoked_at_ms = 0;  // 0 while valid
  std::string secret_sha256;  // 32 bytes

  bool revoked() const { return revoked_at_ms != 0; }
};

// A token just made: its record and its text, which nothing keeps.
struct CreatedToken {
  TokenRecord record;
  std::string text;
};

// Thread-safe.
class TokenStore {
 public:
  // Opens the tokens of the vitte-task database at `path`, which must
  // exist with schema 7 or later (Store::Open creates and upgrades it).
  // FAILED_PRECONDITION when it does not; UNAVAILABLE if it cannot be
  // opened.
  static absl::StatusOr<std::unique_ptr<TokenStore>> Open(
      const std::string& path);

  // Makes a token for `name` (1 to 64 of A-Z a-z 0-9 . _ - @) with `role`,
  // durable when it returns. INVALID_ARGUMENT for a bad name,
  // ALREADY_EXISTS when a token not revoked has the name.
  absl::StatusOr<CreatedToken> Create(absl::string_view name, Role role,
                                      int64_t now_ms);
  // Every token, revoked ones included, oldest first.
  absl::StatusOr<std::vector<TokenRecord>> List();
  // Revokes the token whose name (among those not revoked) or id is
  // `name_or_id`; returns it. NOT_FOUND names what was asked for.
  absl::StatusOr<TokenRecord> Revoke(absl::string_view name_or_id,
                                     int64_t now_ms);
  // The token with this id, revoked or not. NOT_FOUND if none.
  absl::StatusOr<TokenRecord> Find(absl::string_view id);

 private:
  explicit TokenStore(std::unique_ptr<sql::Database> db) : db_(std::move(db)) {}

  absl::Mutex mu_;
  std::unique_ptr<sql::Database> db_ ABSL_GUARDED_BY(mu_);
  std::optional<sql::Statement> find_ ABSL_GUARDED_BY(mu_);  // made by Find
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_TOKEN_STORE_H_
