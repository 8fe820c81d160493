#include "coordinator/auth_token.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vitte::task {
namespace {

constexpr absl::string_view kPrefix = "vt1_";
constexpr size_t kIdBytes = 8;
constexpr size_t kSecretBytes = 32;

bool IsLowerHex(absl::string_view s, size_t length) {
  if (s.size() != length) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t filled = 0;
  while (filled < bytes) {
    ssize_t n = getrandom(raw.data() + filled, bytes - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(
          absl::StrCat("getrandom: ", std::strerror(errno)));
    }
    filled += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(raw);
}

}  // namespace

std::string TokenParts::Text() const {
  return absl::StrCat(kPrefix, id, "_", secret);
}

absl::StatusOr<TokenParts> ParseToken(absl::string_view text) {
  // vt1_ + 16 + _ + 64
  if (text.size() != kPrefix.size() + 2 * kIdBytes + 1 + 2 * kSecretBytes ||
      !absl::StartsWith(text, kPrefix)) {
    return absl::InvalidArgumentError(
        "not a vitte-task token (expected vt1_<16 hex>_<64 hex>)");
  }
  text.remove_prefix(kPrefix.size());
  absl::string_view id = text.substr(0, 2 * kIdBytes);
  absl::string_view secret = text.substr(2 * kIdBytes + 1);
  if (text[2 * kIdBytes] != '_' || !IsLowerHex(id, 2 * kIdBytes) ||
      !IsLowerHex(secret, 2 * kSecretBytes)) {
    return absl::InvalidArgumentError(
        "not a vitte-task token (expected vt1_<16 hex>_<64 hex>)");
  }
  return TokenParts{std::string(id), std::string(secret)};
}

absl::StatusOr<TokenParts> GenerateToken() {
  TokenParts token;
  absl::StatusOr<std::string> id = RandomHex(kIdBytes);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> secret = RandomHex(kSecretBytes);
  if (!secret.ok()) return secret.status();
  token.id = *std::move(id);
  token.secret = *std::move(secret);
  return token;
}

std::string HashSecret(absl::string_view secret) {
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

bool SecretMatches(absl::string_view secret_sha256, absl::string_view secret) {
  const std::string digest = HashSecret(secret);
  return secret_sha256.size() == digest.size() &&
         CRYPTO_memcmp(secret_sha256.data(), digest.data(), digest.size()) == 0;
}

}  // namespace vitte::task
