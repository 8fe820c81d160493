#include "coordinator/auth.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/types/span.h"
#include "absl/strings/str_cat.h"
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

absl::string_view FailureName(int failure) {
  constexpr absl::string_view kNames[] = {"missing", "malformed", "unknown",
                                          "revoked", "wrong_secret"};
  return kNames[failure];
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
  for (int f = 0; f <= static_cast<int>(Failure::kWrongSecret); ++f) {
    failures_.WithLabels({std::string(FailureName(f))});
  }
}

absl::Status Authenticator::Refuse(Failure failure, absl::string_view token_id,
                                   absl::string_view peer,
                                   absl::string_view method) {
  const absl::string_view reason = FailureName(static_cast<int>(failure));
  failures_.WithLabels({std::string(reason)}).Increment();
  int64_t unlogged = -1;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    // A client hammering with a bad token must not flood the log.
    if (now - last_logged_ >= absl::Seconds(1)) {
      last_logged_ = now;
      unlogged = std::exchange(unlogged_, 0);
    } else {
      ++unlogged_;
    }
  }
  if (unlogged >= 0) {
    // Only the id: it names the token and opens nothing.
    spdlog::warn(
        "authentication failed: reason={} method={} peer={} token_id={}{}",
        std::string(reason), std::string(method), std::string(peer),
        token_id.empty() ? std::string("-") : std::string(token_id),
        unlogged > 0 ? absl::StrCat(" (and ", unlogged,
                                    " more since the last such line)")
                     : "");
  }
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
  if (!options_.require_tokens) return Caller{};
  ASSIGN_OR_RETURN(Caller caller, Authenticate(authorization, peer, method));
  if (!RoleAllows(caller.role, service, method)) {
    denied_.WithLabels({std::string(RoleName(caller.role)), std::string(method)})
        .Increment();
    spdlog::warn("permission denied: token={} role={} method={} peer={}",
                 caller.name, std::string(RoleName(caller.role)),
                 std::string(method), std::string(peer));
    return absl::PermissionDeniedError(absl::StrCat(
        "token \"", caller.name, "\" has role ", RoleName(caller.role),
        ", which may not call ", service, ".", method));
  }
  if (!Admit(caller.token_id)) {
    rate_limited_.WithLabels({caller.name}).Increment();
    return absl::ResourceExhaustedError(absl::StrCat(
        "token \"", caller.name, "\" is over its rate of ",
        options_.rate_per_second, " calls per second; retry later"));
  }
  return caller;
}

bool Authenticator::Admit(const std::string& token_id) {
  if (options_.rate_per_second <= 0) return true;
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
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

bool Authenticator::StillValid(const Caller& caller) {
  if (!options_.require_tokens) return true;
  absl::StatusOr<TokenRecord> record = tokens_->Find(caller.token_id);
  // A store that cannot be read now does not end a worker's session.
  if (!record.ok()) return !absl::IsNotFound(record.status());
  return !record->revoked();
}

}  // namespace vitte::task
