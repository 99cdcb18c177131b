#include "client/chunk_result.h"

#include "tests/client/chunk_test_util.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using internal::ChunkItemCount;

TEST(ChunkItemCountTest, CutsTheLastChunkShort) {
  // 10 items (last index 9) in chunks of 4: 4, 4, 2, then nothing.
  EXPECT_EQ(ChunkItemCount(9, 4, 0), 4u);
  EXPECT_EQ(ChunkItemCount(9, 4, 2), 2u);
  EXPECT_EQ(ChunkItemCount(9, 4, 3), 0u);
}

TEST(ChunkItemCountTest, HandlesTheWholeUint64Range) {
  // 2^64 items in chunks of 2^63: two full chunks, no overflow.
  uint64_t half = uint64_t{1} << 63;
  EXPECT_EQ(ChunkItemCount(UINT64_MAX, half, 0), half);
  EXPECT_EQ(ChunkItemCount(UINT64_MAX, half, 1), half);
  EXPECT_EQ(ChunkItemCount(UINT64_MAX, half, 2), 0u);
  EXPECT_EQ(ChunkItemCount(UINT64_MAX, 1000, UINT64_MAX / 1000), 616u);
}

TEST(ChunkResultTest, DecodesBitsLsbFirstWithItemNumbers) {
  v1::ChunkOutput output;
  output.set_bits(std::string("\x05\x01", 2));  // items 0, 2, 8 true
  auto chunk = DecodeChunk(Range(100, 199), 9, 1, output);
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  EXPECT_EQ(chunk->size(), 9u);
  EXPECT_EQ(chunk->n(0), 109u);
  EXPECT_TRUE(chunk->bit(0));
  EXPECT_FALSE(chunk->bit(1));
  EXPECT_TRUE(chunk->bit(2));
  EXPECT_TRUE(chunk->bit(8));
  EXPECT_EQ(chunk->count(), 3u);
}

TEST(ChunkResultTest, ClearsUnusedHighBitsFromTheWire) {
  v1::ChunkOutput output;
  output.set_bits(std::string("\xff", 1));  // only 3 items: 5 bits are junk
  auto chunk = DecodeChunk(Range(0, 2), 8, 0, output);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->count(), 3u);
  EXPECT_EQ(chunk->bits(), std::string("\x07", 1));
}

// Primes 100..159 in the compact encoding: wheel bytes for 90..119,
// 120..149 and 150..179 (bit k is 30j + {1,7,11,13,17,19,23,29}[k]).
v1::ChunkOutput Wheel100To159() {
  v1::ChunkOutput output;
  output.set_prime_wheel(std::string("\x7C\xB6\x03", 3));
  return output;
}

TEST(ChunkResultTest, ReadsAPrimeWheelInPlaceAndExpandsItOnDemand) {
  auto chunk = DecodeChunk(Range(100, 199), 60, 0, Wheel100To159());
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  const std::vector<uint64_t> primes = {101, 103, 107, 109, 113, 127,
                                        131, 137, 139, 149, 151, 157};
  EXPECT_EQ(chunk->kind(), ChunkResult::Kind::kBits);
  EXPECT_EQ(chunk->count(), primes.size());
  std::vector<uint64_t> seen;
  for (uint64_t i = chunk->NextTrue(0); i < chunk->size();
       i = chunk->NextTrue(i + 1)) {
    seen.push_back(chunk->n(i));
  }
  EXPECT_EQ(seen, primes);
  const absl::string_view bits = chunk->bits();
  ASSERT_EQ(bits.size(), 8u);  // 60 items
  for (uint64_t i = 0; i < 60; ++i) {
    const bool prime =
        std::find(primes.begin(), primes.end(), 100 + i) != primes.end();
    EXPECT_EQ(chunk->bit(i), prime) << 100 + i;
    EXPECT_EQ((static_cast<uint8_t>(bits[i / 8]) >> (i % 8)) & 1, prime)
        << 100 + i;
  }
}

TEST(ChunkResultTest, RefusesPrimeWheelsThatDoNotFitTheChunk) {
  // Numbers 100..158: 159's byte is the same, but 157 is in, 159 is not
  // prime; a bit for 161 (byte 2 bit 2) would lie outside.
  v1::ChunkOutput outside = Wheel100To159();
  outside.set_prime_wheel(std::string("\x7C\xB6\x07", 3));
  EXPECT_THAT(DecodeChunk(Range(100, 199), 60, 0, outside).status().message(),
              HasSubstr("bits outside 100..159"));
  EXPECT_THAT(DecodeChunk(Range(100, 199), 90, 0, Wheel100To159())
                  .status()
                  .message(),
              HasSubstr("3 wheel bytes for 90 items (expected 4)"));
  EXPECT_THAT(DecodeListChunk({101, 103}, 0, 0, Wheel100To159())
                  .status()
                  .message(),
              HasSubstr("only a range of numbers can"));
}

TEST(ChunkResultTest, ParsesAResultSpreadOverManyFrames) {
  // 2^22 items: 512 KiB of bits, three frames on the wire.
  constexpr uint64_t kItems = uint64_t{1} << 22;
  std::string packed(kItems / 8, '\0');
  for (size_t i = 0; i < packed.size(); i += 4099) packed[i] = '\x81';
  v1::ChunkOutput output;
  output.set_bits(packed);
  ASSERT_GT(FramesForPayload(output.ByteSizeLong()), 2u);
  auto chunk = DecodeChunk(Range(1, kItems), kItems, 0, output);
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  EXPECT_EQ(chunk->bits(), packed);
  EXPECT_EQ(chunk->count(), 2 * ((packed.size() + 4098) / 4099));
}

TEST(ChunkResultTest, FindsTrueItemsInPlainBits) {
  v1::ChunkOutput output;
  output.set_bits(std::string("\x00\x00\x80\x01", 4));  // items 23, 24
  auto chunk = DecodeChunk(Range(0, 99), 30, 0, output);
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  EXPECT_EQ(chunk->NextTrue(0), 23u);
  EXPECT_EQ(chunk->NextTrue(24), 24u);
  EXPECT_EQ(chunk->NextTrue(25), 30u);
  EXPECT_EQ(chunk->NextTrue(31), 30u);
}

TEST(ChunkResultTest, DecodesListsAndListInputs) {
  v1::ChunkOutput output;
  for (uint32_t length : {3, 0, 1}) output.mutable_lists()->add_lengths(length);
  for (uint64_t v : {2, 2, 3, 7}) output.mutable_lists()->add_values(v);
  auto chunk = DecodeListChunk({12, 1, 7}, 0, 0, output);
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  EXPECT_EQ(chunk->n(2), 7u);
  EXPECT_THAT(chunk->list(0), ElementsAre(2, 2, 3));
  EXPECT_THAT(chunk->list(1), IsEmpty());
  EXPECT_THAT(chunk->list(2), ElementsAre(7));
}

TEST(ChunkResultTest, RejectsOutputsThatDoNotFitTheChunk) {
  v1::ChunkOutput bits;
  bits.set_bits("abc");  // 3 bytes for 9 items: needs 2
  EXPECT_THAT(DecodeChunk(Range(0, 99), 9, 0, bits).status().message(),
              HasSubstr("3 bytes for 9 items"));
  v1::ChunkOutput values;
  values.mutable_values()->add_values(1);
  EXPECT_FALSE(DecodeChunk(Range(0, 99), 2, 0, values).ok());
  v1::ChunkOutput lists;
  lists.mutable_lists()->add_lengths(5);  // claims 5 values, has none
  EXPECT_FALSE(DecodeChunk(Range(0, 0), 1, 0, lists).ok());
  v1::ChunkOutput count;
  count.set_count(11);
  EXPECT_FALSE(DecodeChunk(Range(0, 99), 10, 0, count).ok());
  EXPECT_FALSE(DecodeChunk(Range(0, 99), 10, 0, v1::ChunkOutput()).ok());
  // Not a ChunkOutput at all.
  internal::ChunkMeta meta;
  meta.size = 3;
  EXPECT_THAT(internal::ChunkDecoder::DecodeTask(
                  meta, Payload::FromString("\xff\xff\xff"), 0)
                  .status()
                  .message(),
              HasSubstr("not a tq.v1.ChunkOutput"));
}

}  // namespace
}  // namespace tq
