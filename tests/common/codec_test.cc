#include "common/codec.h"

#include "gtest/gtest.h"

namespace vitte::task::codec {
namespace {

TEST(CodecTest, RoundTrips) {
  std::vector<std::string> strings = {"", "a", std::string(300, 'x'),
                                      std::string("\0b", 2)};
  EXPECT_EQ(*DecodeStrings(EncodeStrings(strings)), strings);
  std::map<std::string, std::string> map = {{"CC", "gcc"}, {"", ""}};
  EXPECT_EQ(*DecodeMap(EncodeMap(map)), map);
  std::vector<int32_t> ints = {0, 1, 127, 128, 1 << 30, 2'000'000'000};
  EXPECT_EQ(*DecodeInts(EncodeInts(ints)), ints);
}

TEST(CodecTest, TruncatedInputIsDataLoss) {
  std::string encoded = EncodeStrings({"hello"});
  encoded.pop_back();
  EXPECT_EQ(DecodeStrings(encoded).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeMap("\x05").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeInts("\x80").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace vitte::task::codec
