// A compact binary encoding for the list- and map-valued fields that the
// store keeps in BLOB columns (argv, env, labels, dependency indices):
// varint lengths followed by bytes. Stable on disk: changing it needs a
// schema migration.
#ifndef VITTE_COMMON_CODEC_H_
#define VITTE_COMMON_CODEC_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vitte::task::codec {

std::string EncodeStrings(const std::vector<std::string>& values);
absl::StatusOr<std::vector<std::string>> DecodeStrings(absl::string_view in);

std::string EncodeMap(const std::map<std::string, std::string>& values);
absl::StatusOr<std::map<std::string, std::string>> DecodeMap(
    absl::string_view in);

std::string EncodeInts(absl::Span<const int32_t> values);
absl::StatusOr<std::vector<int32_t>> DecodeInts(absl::string_view in);

}  // namespace vitte::task::codec

#endif  // VITTE_COMMON_CODEC_H_
