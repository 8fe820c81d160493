// Who may call what: the roles' table, and the check of a call's bearer
// token (see the proto's header). Knows no gRPC: the services hand it the
// `authorization` metadata and the method's name.
#ifndef VITTE_COORDINATOR_AUTH_H_
#define VITTE_COORDINATOR_AUTH_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "coordinator/token_store.h"

namespace vitte::task {

// The services' full names, as in the proto.
inline constexpr absl::string_view kTaskServiceName = "vitte.task.v1.TaskService";
inline constexpr absl::string_view kWorkerServiceName =
    "vitte.task.v1.WorkerService";

// Whether a token of `role` may call `method` of `service` (full name). A
// method this table does not know is refused to every role.
bool RoleAllows(Role role, absl::string_view service, absl::string_view method);

// Who makes a call.
struct Caller {
  // The token's name and id; both empty when the daemon runs without
  // tokens, where every caller may do anything.
  std::string name;
  std::string token_id;
  Role role = Role::kAdmin;
};

// Whether `caller` may cancel or retry a graph submitted by `owner`
// (GraphRecord::owner): an admin (or anyone without tokens) may; a submit
// token only its own graphs. PERMISSION_DENIED names the token, `graph`
// and its owner.
absl::Status CheckMayChangeGraph(const Caller& caller, absl::string_view owner,
                                 absl::string_view graph);

struct AuthOptions {
  // Every call needs a valid token (--auth tokens). False: none is checked
  // and every caller is an admin.
  bool require_tokens = false;
  // Calls per second each token may make, on average, past a burst of
  // `burst` (--token-rate-limit; 0 = no limit). Counted per token, so a
  // runaway script slows only itself.
  double rate_per_second = 100;
  double burst = 200;
};

// Thread-safe.
class Authenticator {
 public:
  // `tokens` may be null when !options.require_tokens. `tokens`, `clock`
  // and `metrics` must outlive it.
  Authenticator(TokenStore* tokens, AuthOptions options, const Clock& clock,
                MetricsRegistry& metrics);

  // Decides a call of `method` of `service` (full name) that carried
  // `authorization` (its metadata value, "Bearer <token>"; nullopt when it
  // had none), from `peer` (for the log). Returns the caller, or:
  // UNAUTHENTICATED for no token, one that is not a token, unknown,
  // revoked or whose secret is wrong; PERMISSION_DENIED when the token's
  // role may not make the call; RESOURCE_EXHAUSTED when it is over its
  // rate. Each refusal is counted in the metrics and logged, with the
  // token's id at most: never with what was presented.
  absl::StatusOr<Caller> Authorize(std::optional<absl::string_view> authorization,
                                   absl::string_view service,
                                   absl::string_view method,
                                   absl::string_view peer);

  // Whether the token of `caller` is still valid (not revoked since), for
  // long calls that check again now and then. Always true without tokens.
  bool StillValid(const Caller& caller);

  bool require_tokens() const { return options_.require_tokens; }

 private:
  // Why a call was refused; the label of vitte_auth_failures_total.
  enum class Failure { kMissing, kMalformed, kUnknown, kRevoked, kWrongSecret };

  absl::StatusOr<Caller> Authenticate(
      std::optional<absl::string_view> authorization, absl::string_view peer,
      absl::string_view method);
  absl::Status Refuse(Failure failure, absl::string_view token_id,
                      absl::string_view peer, absl::string_view method);
  // Takes one call from the token's bucket; false when it is empty.
  bool Admit(const std::string& token_id);

  TokenStore* const tokens_;
  const AuthOptions options_;
  const Clock& clock_;
  CounterFamily& failures_;
  CounterFamily& denied_;
  CounterFamily& rate_limited_;

  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  // Refusals are logged at most once a second; the others are counted and
  // told in the next line logged.
  absl::Time last_logged_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t unlogged_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_AUTH_H_
