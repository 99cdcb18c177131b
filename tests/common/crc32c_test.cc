#include "common/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace tq {
namespace {

// The check value of CRC-32C (Castagnoli) in every CRC catalogue.
TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
}

// RFC 3720 (iSCSI), appendix B.4: 32-byte vectors, long enough for the
// eight-byte path.
TEST(Crc32cTest, MatchesTheIscsiVectors) {
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(descending), 0x113FDB5Cu);
}

TEST(Crc32cTest, EmptyInputIsZero) { EXPECT_EQ(Crc32c(""), 0u); }

// Every split point and misalignment gives the same CRC as one pass, so the
// eight-byte loop and the byte loop agree.
TEST(Crc32cTest, ExtendingPiecesEqualsOnePass) {
  std::string data;
  for (int i = 0; i < 100; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  const uint32_t whole = Crc32c(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    const absl::string_view view(data);
    EXPECT_EQ(Crc32cExtend(Crc32c(view.substr(0, split)), view.substr(split)),
              whole)
        << "split at " << split;
  }
}

TEST(Crc32cTest, DetectsAnySingleBitFlip) {
  std::string data(64, 'a');
  const uint32_t clean = Crc32c(data);
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    std::string flipped = data;
    flipped[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_NE(Crc32c(flipped), clean) << "bit " << bit;
  }
}

}  // namespace
}  // namespace tq
