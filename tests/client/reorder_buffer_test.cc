#include "client/reorder_buffer.h"

#include "tests/client/chunk_test_util.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace tq {
namespace {

// Chunks of 4 items over the range 0..99, each reporting its count.
ChunkResult Chunk(uint64_t index) {
  v1::ChunkOutput output;
  output.set_count(index % 5);
  return *DecodeChunk(Range(0, 99), 4, index, output);
}

TEST(ReorderBufferTest, HandsOutChunksInOrderWhateverTheArrivalOrder) {
  ReorderBuffer buffer;
  EXPECT_TRUE(buffer.Insert(Chunk(2)));
  EXPECT_TRUE(buffer.Insert(Chunk(1)));
  EXPECT_FALSE(buffer.PopNextInOrder().has_value());  // 0 not here yet
  EXPECT_TRUE(buffer.Insert(Chunk(0)));
  std::vector<uint64_t> order;
  while (auto chunk = buffer.PopNextInOrder()) order.push_back(chunk->chunk_index());
  EXPECT_EQ(order, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.next_item(), 12u);
}

// Items acknowledged before an attach never come: ordered reading passes
// over them, wherever they lie.
TEST(ReorderBufferTest, PassesOverSkippedItems) {
  ReorderBuffer buffer;
  buffer.Skip(0, 4);    // chunk 0
  buffer.Skip(8, 16);   // chunks 2 and 3
  EXPECT_TRUE(buffer.Insert(Chunk(4)));
  EXPECT_FALSE(buffer.PopNextInOrder().has_value());  // 1 not here yet
  EXPECT_TRUE(buffer.Insert(Chunk(1)));
  std::vector<uint64_t> order;
  while (auto chunk = buffer.PopNextInOrder()) order.push_back(chunk->chunk_index());
  EXPECT_EQ(order, (std::vector<uint64_t>{1, 4}));
  EXPECT_EQ(buffer.next_item(), 20u);
}

TEST(ReorderBufferTest, DropsDuplicatesAndChunksAlreadyHandedOut) {
  ReorderBuffer buffer;
  EXPECT_TRUE(buffer.Insert(Chunk(0)));
  EXPECT_TRUE(buffer.Insert(Chunk(1)));
  EXPECT_FALSE(buffer.Insert(Chunk(1)));
  EXPECT_EQ(buffer.size(), 2u);
  ASSERT_TRUE(buffer.PopNextInOrder().has_value());
  EXPECT_FALSE(buffer.Insert(Chunk(0)));
  EXPECT_EQ(buffer.size(), 1u);
}

TEST(ReorderBufferTest, PopOldestFollowsArrivalOrder) {
  ReorderBuffer buffer;
  for (uint64_t i : {5, 3, 9, 0}) buffer.Insert(Chunk(i));
  std::vector<uint64_t> order;
  while (auto chunk = buffer.PopOldest()) order.push_back(chunk->chunk_index());
  EXPECT_EQ(order, (std::vector<uint64_t>{5, 3, 9, 0}));
}

}  // namespace
}  // namespace tq
