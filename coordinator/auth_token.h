// Bearer tokens: their text, how they are made, and how a presented one is
// checked against what the store keeps. No I/O but the random source.
//
// A token reads "vt1_<id>_<secret>": <id> is 16 lowercase hex digits and is
// public (it names the token in lists, logs and the store's key); <secret>
// is 64 lowercase hex digits, 256 random bits, of which only the SHA-256
// is ever stored. 256 random bits need no slow password hash: nobody can
// guess them, and the hash only keeps a stolen database from being a list
// of working tokens. The prefix lets secret scanners spot a leaked token.
#ifndef VITTE_COORDINATOR_AUTH_TOKEN_H_
#define VITTE_COORDINATOR_AUTH_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vitte::task {

struct TokenParts {
  std::string id;
  std::string secret;

  // "vt1_<id>_<secret>".
  std::string Text() const;
};

// Splits a token's text. INVALID_ARGUMENT when it is not a token; the
// message never quotes the text, which may be a secret mistyped.
absl::StatusOr<TokenParts> ParseToken(absl::string_view text);

// A new token from the kernel's random source (getrandom). INTERNAL if the
// source fails.
absl::StatusOr<TokenParts> GenerateToken();

// SHA-256 of the secret: 32 raw bytes.
std::string HashSecret(absl::string_view secret);

// Whether `secret` hashes to `secret_sha256`, compared in constant time.
bool SecretMatches(absl::string_view secret_sha256, absl::string_view secret);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_AUTH_TOKEN_H_
