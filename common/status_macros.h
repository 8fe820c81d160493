// Small helpers that upstream Abseil ships but Debian's Abseil (20220623)
// does not, under the upstream names.
#ifndef VITTE_COMMON_STATUS_MACROS_H_
#define VITTE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the current function with the status of `expr` unless it is OK.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status vitte_status_ = (expr);     \
    if (!vitte_status_.ok()) return vitte_status_; \
  } while (0)

#define VITTE_STATUS_CONCAT_INNER_(a, b) a##b
#define VITTE_STATUS_CONCAT_(a, b) VITTE_STATUS_CONCAT_INNER_(a, b)

// `ASSIGN_OR_RETURN(auto x, Foo());` declares x from an OK StatusOr, else
// returns its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  VITTE_ASSIGN_OR_RETURN_IMPL_(VITTE_STATUS_CONCAT_(vitte_statusor_, __LINE__), lhs, expr)

#define VITTE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // VITTE_COMMON_STATUS_MACROS_H_
