#include "client/item_coverage.h"

#include <cstdint>

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

}  // namespace
}  // namespace tq::internal
