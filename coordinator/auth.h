// Who may call what: the roles' table, and the check of a call's bearer
// token (see the proto's header). Knows no gRPC: the services hand it the
// `authorization` metadata and the method's name.
#ifndef VITTE_COORDINATOR_AUTH_H_
#define VITTE_COORDINATOR_AUTH_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
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
  // The caller of a daemon without tokens, who may do anything.
  static Caller Unchecked() { return Caller{"", "", Role::kAdmin}; }

  // The token's name and id; both empty for Unchecked().
  std::string name;
  std::string token_id;
  Role role = Role::kRead;
};

// Whether `caller` may cancel or retry a graph submitted by `owner`
// (GraphRecord::owner): an admin (or anyone without tokens) may; a submit
// token only its own graphs. PERMISSION_DENIED names the token, `graph`
// and its owner.
absl::Status CheckMayChangeGraph(const Caller& caller, absl::string_view owner,
                                 absl::string_view graph);

// Whether a worker holding `caller`'s token may register as `worker_name`:
// the token's name itself, or that name followed by '/' and anything (one
// token for a pool of interchangeable workers, "pool/pod-7f2c"). Otherwise
// any worker token could take any worker's name, its attempts and its
// serve-labels. PERMISSION_DENIED names both. Always OK without tokens.
absl::Status CheckWorkerName(const Caller& caller,
                             absl::string_view worker_name);

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
  // revoked or whose secret is wrong; RESOURCE_EXHAUSTED when the token is
  // over its rate; PERMISSION_DENIED when its role may not make the call.
  // Each refusal is counted in the metrics and logged (at most one line a
  // second), with the token's id at most: never with what was presented.
  absl::StatusOr<Caller> Authorize(std::optional<absl::string_view> authorization,
                                   absl::string_view service,
                                   absl::string_view method,
                                   absl::string_view peer);

  // Whether the token of `caller` is still valid (not revoked since).
  // Always true without tokens.
  bool StillValid(const Caller& caller);

  // Long calls (event streams, worker sessions) outlive the check at their
  // start. Each registers how to end it; SweepRevoked ends those whose
  // token was revoked since. Returns the id to forget it by (0 without
  // tokens, where nothing is registered). `end` is called at most once,
  // by SweepRevoked, without any lock of this class held.
  using CallId = uint64_t;
  CallId WatchCall(const Caller& caller, absl::AnyInvocable<void()> end);
  // The call ended: it is no longer swept. Unknown ids (0) are ignored.
  void ForgetCall(CallId id);
  // Ends the calls whose token was revoked (or deleted); returns how many.
  // Reads the token table once per token in use: called every few seconds
  // (CoordinatorServer's ticker), not per call.
  int SweepRevoked();

  bool require_tokens() const { return options_.require_tokens; }

 private:
  // Why a call was refused; the label of vitte_auth_failures_total.
  enum class Failure { kMissing, kMalformed, kUnknown, kRevoked, kWrongSecret };

  absl::StatusOr<Caller> Authenticate(
      std::optional<absl::string_view> authorization, absl::string_view peer,
      absl::string_view method);
  static absl::string_view FailureName(Failure failure);
  absl::Status Refuse(Failure failure, absl::string_view token_id,
                      absl::string_view peer, absl::string_view method);
  // Logs a refusal, at most once a second; the next line logged counts
  // those left out.
  void LogRefusal(const std::string& line);
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
  struct LongCall {
    std::string token_id;
    absl::AnyInvocable<void()> end;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<CallId, LongCall> long_calls_ ABSL_GUARDED_BY(mu_);
  CallId last_call_id_ ABSL_GUARDED_BY(mu_) = 0;
  // Refusals are logged at most once a second; the others are counted and
  // told in the next line logged.
  absl::Time last_logged_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t unlogged_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_AUTH_H_
