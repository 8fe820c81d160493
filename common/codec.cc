#include "common/codec.h"

#include "absl/strings/str_cat.h"

namespace vitte::task::codec {
namespace {

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Reads a varint from the front of `in`, advancing it.
bool GetVarint(absl::string_view& in, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    uint8_t byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

bool GetString(absl::string_view& in, std::string& out) {
  uint64_t len;
  if (!GetVarint(in, len) || len > in.size()) return false;
  out.assign(in.data(), len);
  in.remove_prefix(len);
  return true;
}

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("corrupt encoded ", what, " in the database"));
}

}  // namespace

std::string EncodeStrings(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) {
    PutVarint(out, v.size());
    out.append(v);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> DecodeStrings(absl::string_view in) {
  std::vector<std::string> out;
  while (!in.empty()) {
    if (!GetString(in, out.emplace_back())) return Corrupt("string list");
  }
  return out;
}

std::string EncodeMap(const std::map<std::string, std::string>& values) {
  std::string out;
  for (const auto& [k, v] : values) {
    PutVarint(out, k.size());
    out.append(k);
    PutVarint(out, v.size());
    out.append(v);
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> DecodeMap(
    absl::string_view in) {
  std::map<std::string, std::string> out;
  std::string k, v;
  while (!in.empty()) {
    if (!GetString(in, k) || !GetString(in, v)) return Corrupt("map");
    out.emplace(std::move(k), std::move(v));
  }
  return out;
}

std::string EncodeInts(absl::Span<const int32_t> values) {
  std::string out;
  for (int32_t v : values) PutVarint(out, static_cast<uint32_t>(v));
  return out;
}

absl::StatusOr<std::vector<int32_t>> DecodeInts(absl::string_view in) {
  std::vector<int32_t> out;
  uint64_t v;
  while (!in.empty()) {
    if (!GetVarint(in, v) || v > UINT32_MAX) return Corrupt("integer list");
    out.push_back(static_cast<int32_t>(static_cast<uint32_t>(v)));
  }
  return out;
}

}  // namespace vitte::task::codec
