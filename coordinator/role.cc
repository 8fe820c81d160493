#include "coordinator/role.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace vitte::task {

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kSubmit:
      return "submit";
    case Role::kAdmin:
      return "admin";
    case Role::kWorker:
      return "worker";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role r : {Role::kRead, Role::kSubmit, Role::kAdmin, Role::kWorker}) {
    if (RoleName(r) == name) return r;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role \"", absl::CEscape(name),
                   "\" (roles: read, submit, admin, worker)"));
}

}  // namespace vitte::task
