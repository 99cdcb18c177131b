#include "client/item_coverage.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace tq::internal {
namespace {

TEST(ItemCoverageTest, MergesTouchingRunsInAnyOrder) {
  ItemCoverage coverage;
  EXPECT_TRUE(coverage.Add(10, 5));
  EXPECT_TRUE(coverage.Add(0, 5));
  EXPECT_EQ(coverage.FirstGap(), 5u);
  EXPECT_EQ(coverage.runs(), 2u);
  EXPECT_TRUE(coverage.Add(5, 5));  // fills the gap: one run
  EXPECT_EQ(coverage.runs(), 1u);
  EXPECT_EQ(coverage.covered(), 15u);
  EXPECT_EQ(coverage.FirstGap(), 15u);
}

TEST(ItemCoverageTest, RefusesAnyOverlap) {
  ItemCoverage coverage;
  ASSERT_TRUE(coverage.Add(10, 10));
  EXPECT_FALSE(coverage.Add(10, 10));  // the same
  EXPECT_FALSE(coverage.Add(5, 6));    // ends inside
  EXPECT_FALSE(coverage.Add(19, 5));   // starts inside
  EXPECT_FALSE(coverage.Add(12, 1));   // within
  EXPECT_FALSE(coverage.Add(0, 100));  // around
  EXPECT_EQ(coverage.covered(), 10u);
  EXPECT_TRUE(coverage.Add(5, 5));
  EXPECT_TRUE(coverage.Add(20, 1));
  EXPECT_EQ(coverage.runs(), 1u);
}

TEST(ItemCoverageTest, HoldsTheWholeUint64Range) {
  ItemCoverage coverage;
  ASSERT_TRUE(coverage.Add(UINT64_MAX, 1));
  ASSERT_TRUE(coverage.Add(0, UINT64_MAX));
  EXPECT_EQ(coverage.covered(), absl::uint128(1) << 64);
  EXPECT_EQ(coverage.FirstGap(), absl::uint128(1) << 64);
  EXPECT_FALSE(coverage.Add(7, 1));
}

TEST(ItemCoverageTest, MergeIsAUnionOfOverlappingAndTouchingRuns) {
  ItemCoverage coverage;
  coverage.Merge(10, 20);
  coverage.Merge(15, 25);  // overlaps: 10..25
  coverage.Merge(12, 14);  // within: nothing changes
  EXPECT_EQ(coverage.Runs(), (std::vector<ItemCoverage::Run>{{10, 25}}));
  EXPECT_EQ(coverage.covered(), 15u);
  coverage.Merge(30, 40);
  EXPECT_EQ(coverage.runs(), 2u);
  EXPECT_EQ(coverage.covered(), 25u);
  coverage.Merge(25, 30);  // touches both: one run
  EXPECT_EQ(coverage.Runs(), (std::vector<ItemCoverage::Run>{{10, 40}}));
  EXPECT_EQ(coverage.covered(), 30u);
  coverage.Merge(0, 100);  // around
  EXPECT_EQ(coverage.Runs(), (std::vector<ItemCoverage::Run>{{0, 100}}));
  EXPECT_EQ(coverage.covered(), 100u);
  coverage.Merge(UINT64_MAX, absl::uint128(1) << 64);
  EXPECT_EQ(coverage.covered(), 101u);
}

TEST(ItemCoverageTest, MinusLeavesTheRunsNotCoveredByTheOther) {
  ItemCoverage have;
  have.Merge(0, 100);
  have.Merge(200, 300);
  ItemCoverage acked;
  acked.Merge(0, 10);
  acked.Merge(50, 60);
  acked.Merge(90, 210);
  acked.Merge(250, 251);
  EXPECT_EQ(have.Minus(acked),
            (std::vector<ItemCoverage::Run>{
                {10, 50}, {60, 90}, {210, 250}, {251, 300}}));
  EXPECT_EQ(have.Minus(ItemCoverage()), have.Runs());
  EXPECT_TRUE(acked.Minus(acked).empty());
  ItemCoverage all;
  all.Merge(0, absl::uint128(1) << 64);
  EXPECT_TRUE(have.Minus(all).empty());
  EXPECT_EQ(all.Minus(have).back(),
            (ItemCoverage::Run{300, absl::uint128(1) << 64}));
}

}  // namespace
}  // namespace tq::internal
