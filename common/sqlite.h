// A thin RAII layer over SQLite: statements with bound parameters only,
// transactions that roll back unless committed, and every error returned as
// an absl::Status that names the SQL and the database file.
#ifndef VITTE_COMMON_SQLITE_H_
#define VITTE_COMMON_SQLITE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace vitte::task::sql {

class Statement;

// One connection. Not thread-safe: its owner serialises access.
class Database {
 public:
  // Opens (creating if missing) the database at `path` (":memory:" for a
  // private in-memory one). UNAVAILABLE if the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements that take no parameters and whose rows, if
  // any, are discarded.
  absl::Status Execute(absl::string_view sql);
  // Compiles one statement.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);

  // Reads a single integer (e.g. `PRAGMA user_version`).
  absl::StatusOr<int64_t> QueryInt(absl::string_view sql);

  int64_t LastInsertRowId() const;
  const std::string& path() const { return path_; }
  sqlite3* raw() { return db_; }

  // Status for the connection's last error, prefixed with `what`.
  absl::Status Error(absl::string_view what) const;

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

// A compiled statement. Movable, not copyable; finalised on destruction.
// Parameters are numbered from 1, columns from 0, as in SQLite.
class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, absl::string_view text);
  Statement& BindBlob(int index, absl::string_view bytes);
  Statement& BindNull(int index);

  // Advances to the next row: true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps a statement that returns no row, then resets it.
  absl::Status Run();
  // Makes the statement runnable again and clears its bindings.
  void Reset();

  int64_t ColumnInt(int col) const;
  std::string ColumnText(int col) const;
  std::string ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Database* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  // First bind error, reported by the next Step/Run.
  absl::Status bind_status_;
};

// BEGIN IMMEDIATE on construction (so a writer never has to upgrade a read
// lock), ROLLBACK on destruction unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Status of BEGIN; check it before using the transaction.
  const absl::Status& begin_status() const { return begin_status_; }
  absl::Status Commit();

 private:
  Database& db_;
  absl::Status begin_status_;
  bool open_ = false;
};

}  // namespace vitte::task::sql

#endif  // VITTE_COMMON_SQLITE_H_
