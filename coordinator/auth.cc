#include "coordinator/auth.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/status_macros.h"
#include "coordinator/auth_token.h"
#include "spdlog/spdlog.h"

namespace vitte::task {
namespace {

constexpr absl::string_view kReadMethods[] = {
    "GetGraph", "ListGraphs", "WatchGraph", "FollowEvents", "ListWorkers",
    "GetLogs"};
constexpr absl::string_view kSubmitMethods[] = {"SubmitGraph", "CancelGraph",
                                                "RetryGraph"};

bool Contains(absl::Span<const absl::string_view> list, absl::string_view m) {
  return std::find(list.begin(), list.end(), m) != list.end();
}

}  // namespace

bool RoleAllows(Role role, absl::string_view service, absl::string_view method) {
  if (service == kWorkerServiceName) {
    return role == Role::kWorker && method == "Connect";
  }
  if (service != kTaskServiceName) return false;
  const bool read = Contains(kReadMethods, method);
  const bool submit = Contains(kSubmitMethods, method);
  switch (role) {
    case Role::kRead:
      return read;
    case Role::kSubmit:
    case Role::kAdmin:
      // What sets them apart is whose graphs they may change (see
      // CheckMayChangeGraph).
      return read || submit;
    case Role::kWorker:
      return false;
  }
  return false;
}

absl::Status CheckMayChangeGraph(const Caller& caller, absl::string_view owner,
                                 absl::string_view graph) {
  if (caller.role == Role::kAdmin) return absl::OkStatus();
  if (caller.role == Role::kSubmit && caller.name == owner) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "token \"", caller.name, "\" (role ", RoleName(caller.role),
      ") may not change graph ", graph, ", submitted by ",
      owner.empty() ? "nobody's token" : absl::StrCat("\"", owner, "\""),
      ": only its submitter or an admin may"));
}

absl::Status CheckWorkerName(const Caller& caller,
                             absl::string_view worker_name) {
  if (caller.token_id.empty()) return absl::OkStatus();  // no tokens
  if (worker_name == caller.name ||
      absl::StartsWith(worker_name, absl::StrCat(caller.name, "/"))) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "token \"", caller.name, "\" may not register a worker named \"",
      worker_name, "\": only \"", caller.name, "\" or \"", caller.name,
      "/...\" (make a token per worker, or name the workers after theirs)"));
}

Authenticator::Authenticator(TokenStore* tokens, AuthOptions options,
                             const Clock& clock, MetricsRegistry& metrics)
    : tokens_(tokens),
      options_(options),
      clock_(clock),
      failures_(metrics.AddCounterFamily(
          "vitte_auth_failures_total",
          "Calls refused for their token: missing, malformed (not a token), "
          "unknown, revoked or wrong_secret.",
          {"reason"})),
      denied_(metrics.AddCounterFamily(
          "vitte_auth_denied_total",
          "Calls refused because the token's role may not make them.",
          {"role", "method"})),
      rate_limited_(metrics.AddCounterFamily(
          "vitte_auth_rate_limited_total",
          "Calls refused because their token was over --token-rate-limit.",
          {"token"})) {
  for (Failure f : {Failure::kMissing, Failure::kMalformed, Failure::kUnknown,
                    Failure::kRevoked, Failure::kWrongSecret}) {
    failures_.WithLabels({std::string(FailureName(f))});
  }
}

absl::string_view Authenticator::FailureName(Failure failure) {
  switch (failure) {
    case Failure::kMissing:
      return "missing";
    case Failure::kMalformed:
      return "malformed";
    case Failure::kUnknown:
      return "unknown";
    case Failure::kRevoked:
      return "revoked";
    case Failure::kWrongSecret:
      return "wrong_secret";
  }
  return "unknown";
}

void Authenticator::LogRefusal(const std::string& line) {
  int64_t unlogged = -1;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    // A client hammering with a bad token, or calls its role may not make,
    // must not flood the log.
    if (now - last_logged_ >= absl::Seconds(1)) {
      last_logged_ = now;
      unlogged = std::exchange(unlogged_, 0);
    } else {
      ++unlogged_;
    }
  }
  if (unlogged < 0) return;
  spdlog::warn("{}{}", line,
               unlogged > 0 ? absl::StrCat(" (and ", unlogged,
                                           " more refusals since the last "
                                           "such line)")
                            : "");
}

absl::Status Authenticator::Refuse(Failure failure, absl::string_view token_id,
                                   absl::string_view peer,
                                   absl::string_view method) {
  const absl::string_view reason = FailureName(failure);
  failures_.WithLabels({std::string(reason)}).Increment();
  // Only the id: it names the token and opens nothing.
  LogRefusal(absl::StrCat("authentication failed: reason=", reason,
                          " method=", method, " peer=", peer, " token_id=",
                          token_id.empty() ? "-" : token_id));
  switch (failure) {
    case Failure::kMissing:
      return absl::UnauthenticatedError(
          "this daemon requires a token: pass --token-file (or set "
          "VITTE_TOKEN_FILE); an admin makes one with `vitte-taskd token "
          "create`");
    case Failure::kMalformed:
      return absl::UnauthenticatedError(
          "the authorization metadata is not \"Bearer vt1_...\" with a "
          "vitte-task token");
    case Failure::kRevoked:
      return absl::UnauthenticatedError(
          absl::StrCat("token ", token_id, " was revoked"));
    case Failure::kUnknown:
    case Failure::kWrongSecret:
      // The same answer for both, so that ids cannot be probed.
      return absl::UnauthenticatedError(
          absl::StrCat("token ", token_id, " is not valid"));
  }
  return absl::UnauthenticatedError("invalid token");
}

absl::StatusOr<Caller> Authenticator::Authenticate(
    std::optional<absl::string_view> authorization, absl::string_view peer,
    absl::string_view method) {
  if (!authorization.has_value()) {
    return Refuse(Failure::kMissing, "", peer, method);
  }
  absl::string_view value = *authorization;
  constexpr absl::string_view kScheme = "Bearer ";
  if (!absl::StartsWithIgnoreCase(value, kScheme)) {
    return Refuse(Failure::kMalformed, "", peer, method);
  }
  value.remove_prefix(kScheme.size());
  absl::StatusOr<TokenParts> parts = ParseToken(value);
  if (!parts.ok()) return Refuse(Failure::kMalformed, "", peer, method);
  absl::StatusOr<TokenRecord> record = tokens_->Find(parts->id);
  if (absl::IsNotFound(record.status())) {
    return Refuse(Failure::kUnknown, parts->id, peer, method);
  }
  // The store failing is not the caller's fault: it may retry.
  if (!record.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot check the token: ", record.status().message()));
  }
  if (!SecretMatches(record->secret_sha256, parts->secret)) {
    return Refuse(Failure::kWrongSecret, parts->id, peer, method);
  }
  if (record->revoked()) {
    return Refuse(Failure::kRevoked, parts->id, peer, method);
  }
  return Caller{record->name, record->id, record->role};
}

absl::StatusOr<Caller> Authenticator::Authorize(
    std::optional<absl::string_view> authorization, absl::string_view service,
    absl::string_view method, absl::string_view peer) {
  if (!options_.require_tokens) return Caller::Unchecked();
  ASSIGN_OR_RETURN(Caller caller, Authenticate(authorization, peer, method));
  // The rate first: refusals cost too, and a token over its rate is slowed
  // whatever it calls.
  if (!Admit(caller.token_id)) {
    rate_limited_.WithLabels({caller.name}).Increment();
    LogRefusal(absl::StrCat("rate limited: token=", caller.name,
                            " method=", method, " peer=", peer));
    return absl::ResourceExhaustedError(absl::StrCat(
        "token \"", caller.name, "\" is over its rate of ",
        options_.rate_per_second, " calls per second; retry later"));
  }
  if (!RoleAllows(caller.role, service, method)) {
    denied_.WithLabels({std::string(RoleName(caller.role)), std::string(method)})
        .Increment();
    LogRefusal(absl::StrCat("permission denied: token=", caller.name,
                            " role=", RoleName(caller.role), " method=", method,
                            " peer=", peer));
    return absl::PermissionDeniedError(absl::StrCat(
        "token \"", caller.name, "\" has role ", RoleName(caller.role),
        ", which may not call ", service, ".", method));
  }
  return caller;
}

bool Authenticator::Admit(const std::string& token_id) {
  if (options_.rate_per_second <= 0) return true;
  absl::MutexLock lock(&mu_);
  // Read under the lock, so that time never runs backwards for a bucket.
  const absl::Time now = clock_.Now();
  auto [it, inserted] = buckets_.try_emplace(token_id);
  Bucket& b = it->second;
  if (inserted) {
    b.tokens = options_.burst;
  } else {
    b.tokens = std::min(options_.burst,
                        b.tokens + absl::ToDoubleSeconds(now - b.refilled) *
                                       options_.rate_per_second);
  }
  b.refilled = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

Authenticator::CallId Authenticator::WatchCall(const Caller& caller,
                                               absl::AnyInvocable<void()> end) {
  if (!options_.require_tokens) return 0;
  absl::MutexLock lock(&mu_);
  const CallId id = ++last_call_id_;
  long_calls_.emplace(id, LongCall{caller.token_id, std::move(end)});
  return id;
}

void Authenticator::ForgetCall(CallId id) {
  if (id == 0) return;
  absl::MutexLock lock(&mu_);
  long_calls_.erase(id);
}

int Authenticator::SweepRevoked() {
  if (!options_.require_tokens) return 0;
  absl::flat_hash_set<std::string> in_use;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, call] : long_calls_) in_use.insert(call.token_id);
  }
  // The store is read without the lock: calls keep starting meanwhile.
  absl::flat_hash_set<std::string> revoked;
  for (const std::string& token_id : in_use) {
    if (!StillValid(Caller{"", token_id, Role::kRead})) revoked.insert(token_id);
  }
  if (revoked.empty()) return 0;
  std::vector<absl::AnyInvocable<void()>> ends;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = long_calls_.begin(); it != long_calls_.end();) {
      if (revoked.contains(it->second.token_id)) {
        ends.push_back(std::move(it->second.end));
        long_calls_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  for (auto& end : ends) end();
  if (!ends.empty()) {
    spdlog::warn("ended {} calls whose token was revoked", ends.size());
  }
  return static_cast<int>(ends.size());
}

bool Authenticator::StillValid(const Caller& caller) {
  if (!options_.require_tokens) return true;
  absl::StatusOr<TokenRecord> record = tokens_->Find(caller.token_id);
  // A store that cannot be read now does not end a worker's session.
  if (!record.ok()) return !absl::IsNotFound(record.status());
  return !record->revoked();
}

}  // namespace vitte::task
