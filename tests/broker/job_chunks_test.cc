// ChunkTable: a job's outstanding chunks by index, in a ring of slots with
// stragglers moved aside.
#include "broker/job_chunks.h"

#include <cstdint>
#include <map>
#include <random>

#include "gtest/gtest.h"

namespace tq {
namespace {

TEST(ChunkTableTest, FindsWhatWasAddedUntilErased) {
  ChunkTable table;
  EXPECT_EQ(table.Find(0), nullptr);
  table.Add(0).first_item = 10;
  table.Add(1).first_item = 11;
  table.Add(5).first_item = 15;  // indexes may skip
  EXPECT_EQ(table.size(), 3u);
  ASSERT_NE(table.Find(1), nullptr);
  EXPECT_EQ(table.Find(1)->first_item, 11u);
  EXPECT_EQ(table.Find(3), nullptr);
  EXPECT_EQ(table.Find(6), nullptr);
  table.Erase(1);
  table.Erase(1);  // twice is harmless
  table.Erase(99);
  EXPECT_EQ(table.Find(1), nullptr);
  EXPECT_EQ(table.size(), 2u);
  table.Erase(0);
  EXPECT_EQ(table.Find(0), nullptr);
  EXPECT_EQ(table.Find(5)->first_item, 15u);
  table.Erase(5);
  EXPECT_TRUE(table.empty());
  table.Add(1000).first_item = 7;  // a fresh window
  EXPECT_EQ(table.at(1000).first_item, 7u);
}

TEST(ChunkTableTest, ErasingKeepsOtherChunksInPlace) {
  ChunkTable table;
  for (uint64_t i = 0; i < 20; ++i) table.Add(i).items = i;
  Chunk* kept = table.Find(7);
  for (uint64_t i = 0; i < 20; ++i) {
    if (i != 7) table.Erase(i);
  }
  EXPECT_EQ(table.Find(7), kept);
  EXPECT_EQ(kept->items, 7u);
}

TEST(ChunkTableTest, AStragglerDoesNotStretchTheWindow) {
  ChunkTable table;
  table.Add(0).first_item = 42;  // never finishes
  for (uint64_t i = 1; i < 100'000; ++i) {
    table.Add(i).first_item = i;
    if (i >= 4) table.Erase(i - 3);  // three more in flight
  }
  EXPECT_LE(table.slots(), 64u);
  ASSERT_NE(table.Find(0), nullptr);
  EXPECT_EQ(table.Find(0)->first_item, 42u);
  EXPECT_EQ(table.size(), 4u);
  size_t visited = 0;
  table.ForEach([&](uint64_t index, const Chunk& chunk) {
    ++visited;
    EXPECT_EQ(chunk.first_item, index == 0 ? 42u : index);
  });
  EXPECT_EQ(visited, 4u);
  table.Erase(0);
  EXPECT_EQ(table.Find(0), nullptr);
  EXPECT_EQ(table.size(), 3u);
}

TEST(ChunkTableTest, AgreesWithAMapThroughRandomAddsAndErases) {
  std::mt19937_64 random(9);
  ChunkTable table;
  std::map<uint64_t, uint64_t> expected;  // index -> first_item
  uint64_t next = 0;
  size_t most = 0;
  for (int step = 0; step < 200'000; ++step) {
    const uint64_t roll = random() % 100;
    if (roll < 45 || expected.empty()) {
      next += 1 + (random() % 8 == 0 ? random() % 5 : 0);
      table.Add(next).first_item = next * 3;
      expected[next] = next * 3;
    } else {
      // Mostly the oldest few, sometimes any.
      auto it = expected.begin();
      std::advance(it, roll < 90 ? random() % std::min<size_t>(4, expected.size())
                                 : random() % expected.size());
      table.Erase(it->first);
      expected.erase(it);
    }
    most = std::max(most, expected.size());
    ASSERT_EQ(table.size(), expected.size());
    const uint64_t probe = random() % (next + 2);
    const Chunk* chunk = table.Find(probe);
    auto it = expected.find(probe);
    ASSERT_EQ(chunk != nullptr, it != expected.end()) << probe;
    if (chunk != nullptr) {
      ASSERT_EQ(chunk->first_item, it->second);
    }
  }
  size_t visited = 0;
  table.ForEach([&](uint64_t index, const Chunk& chunk) {
    ++visited;
    EXPECT_EQ(expected.at(index), chunk.first_item);
  });
  EXPECT_EQ(visited, expected.size());
  // Linear in the chunks held at most.
  EXPECT_LE(table.slots(), 4 * most + 64);
}

}  // namespace
}  // namespace tq
