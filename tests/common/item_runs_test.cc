// ItemRuns: merged runs of item indexes, their gaps, and their wire form.
#include "common/item_runs.h"

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace tq {
namespace {

using Span = ItemRuns::Run;

TEST(ItemRunsTest, MergesRunsThatOverlapOrTouch) {
  ItemRuns runs;
  runs.Add(10, 5);   // 10..14
  runs.Add(20, 5);   // 20..24
  EXPECT_EQ(runs.runs(), 2u);
  runs.Add(15, 5);   // touches both
  EXPECT_EQ(runs.Runs(), (std::vector<Span>{{10, 15}}));
  runs.Add(12, 20);  // overlaps, extends to 31
  EXPECT_EQ(runs.Runs(), (std::vector<Span>{{10, 22}}));
  runs.Add(0, 3);
  EXPECT_EQ(runs.Runs(), (std::vector<Span>{{0, 3}, {10, 22}}));
  EXPECT_EQ(runs.size(), 25u);
  runs.Add(5, 0);  // nothing
  EXPECT_EQ(runs.runs(), 2u);
}

TEST(ItemRunsTest, ContainsOverlapsAndMissing) {
  ItemRuns runs;
  runs.Add(10, 10);  // 10..19
  runs.Add(30, 10);  // 30..39
  EXPECT_TRUE(runs.Contains(10, 10));
  EXPECT_TRUE(runs.Contains(12, 3));
  EXPECT_FALSE(runs.Contains(9, 2));
  EXPECT_FALSE(runs.Contains(15, 20));
  EXPECT_TRUE(runs.Overlaps(19, 5));
  EXPECT_TRUE(runs.Overlaps(25, 6));
  EXPECT_FALSE(runs.Overlaps(20, 10));
  EXPECT_FALSE(runs.Overlaps(0, 10));
  EXPECT_EQ(runs.Missing(0, 50),
            (std::vector<Span>{{0, 10}, {20, 10}, {40, 10}}));
  EXPECT_EQ(runs.Missing(15, 20), (std::vector<Span>{{20, 10}}));
  EXPECT_TRUE(runs.Missing(31, 5).empty());
}

TEST(ItemRunsTest, TheWholeUint64RangeFits) {
  ItemRuns runs;
  runs.Add(UINT64_MAX, 1);
  runs.Add(0, UINT64_MAX);
  EXPECT_EQ(runs.size(), absl::uint128(1) << 64);
  EXPECT_EQ(runs.runs(), 1u);
  EXPECT_TRUE(runs.Contains(UINT64_MAX, 1));
  google::protobuf::RepeatedPtrField<v1::Range> wire;
  runs.ToRanges(&wire);
  ASSERT_EQ(wire.size(), 1);
  EXPECT_EQ(wire[0].first(), 0u);
  EXPECT_EQ(wire[0].last(), UINT64_MAX);
  ItemRuns back;
  ASSERT_TRUE(ItemRuns::FromRanges(wire, &back));
  EXPECT_EQ(back.size(), absl::uint128(1) << 64);
}

TEST(ItemRunsTest, ReversedRangeFromTheWireIsRefused) {
  google::protobuf::RepeatedPtrField<v1::Range> wire;
  wire.Add()->set_first(3);
  v1::Range* bad = wire.Add();
  bad->set_first(9);
  bad->set_last(8);
  ItemRuns runs;
  EXPECT_FALSE(ItemRuns::FromRanges(wire, &runs));
  EXPECT_TRUE(runs.empty());
}

// Against a plain set of items, on random runs.
TEST(ItemRunsTest, AgreesWithASetOfItems) {
  std::mt19937 random(7);
  for (int round = 0; round < 50; ++round) {
    ItemRuns runs;
    std::set<uint64_t> items;
    for (int i = 0; i < 20; ++i) {
      const uint64_t first = random() % 200;
      const uint64_t count = random() % 12;
      runs.Add(first, count);
      for (uint64_t k = first; k < first + count; ++k) items.insert(k);
    }
    EXPECT_EQ(runs.size(), items.size());
    for (uint64_t k = 0; k < 220; ++k) {
      EXPECT_EQ(runs.Contains(k, 1), items.contains(k)) << k;
      EXPECT_EQ(runs.Overlaps(k, 1), items.contains(k)) << k;
    }
    uint64_t missing = 0;
    for (const Span& run : runs.Missing(0, 220)) {
      for (uint64_t k = run.first; k < run.first + run.count; ++k) {
        EXPECT_FALSE(items.contains(k)) << k;
        ++missing;
      }
    }
    EXPECT_EQ(missing + items.size(), 220u);
  }
}

}  // namespace
}  // namespace tq
