// What a token lets its holder do. The calls each role may make are in
// coordinator/auth.h (RoleAllows) and the proto's header.
#ifndef VITTE_COORDINATOR_ROLE_H_
#define VITTE_COORDINATOR_ROLE_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vitte::task {

enum class Role { kRead, kSubmit, kAdmin, kWorker };

// "read", "submit", "admin", "worker".
absl::string_view RoleName(Role role);
// INVALID_ARGUMENT names the text and the roles there are.
absl::StatusOr<Role> ParseRole(absl::string_view name);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_ROLE_H_
