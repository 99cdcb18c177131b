#include "common/chunk_sizer.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace tq {
namespace {

constexpr uint64_t kStream = ChunkSizer::kUnknownRemaining;

ChunkSizerOptions Options() {
  ChunkSizerOptions options;
  options.target_micros = 10'000;
  options.initial_items = 1;
  options.growth = 4;
  options.max_items = 1'000'000;
  options.max_bytes = 1 << 20;
  return options;
}

// Feeds the sizer chunks of a function costing `overhead` + `per_item` µs,
// each cut at the size it asks for, and returns the sizes it chose.
std::vector<uint64_t> Ramp(ChunkSizer& sizer, int chunks, double overhead,
                           double per_item) {
  std::vector<uint64_t> sizes;
  for (int i = 0; i < chunks; ++i) {
    const uint64_t items = sizer.Next();
    sizes.push_back(items);
    sizer.ObserveResult(items,
                        static_cast<uint64_t>(overhead + per_item * items), 0);
  }
  return sizes;
}

TEST(ChunkSizerTest, StartsWithInitialItemsUntilMeasured) {
  ChunkSizer sizer(Options());
  EXPECT_FALSE(sizer.measured());
  EXPECT_EQ(sizer.Next(), 1u);
  // Cutting chunks (input bytes) is no measurement of time.
  sizer.ObserveInput(1, 30);
  EXPECT_EQ(sizer.Next(), 1u);
  EXPECT_FALSE(sizer.measured());
}

TEST(ChunkSizerTest, GrowsAtMostGrowthFoldPerMeasuredStep) {
  ChunkSizer sizer(Options());
  // A nearly free function: the ideal size is huge, growth is the limit.
  EXPECT_EQ(Ramp(sizer, 6, 5, 0.001),
            (std::vector<uint64_t>{1, 4, 16, 64, 256, 1024}));
}

TEST(ChunkSizerTest, AimsAtTargetDurationOnceMeasured) {
  ChunkSizer sizer(Options());
  // 2 µs per item: 10 ms is 5000 items, reached after the ramp.
  std::vector<uint64_t> sizes = Ramp(sizer, 12, 0, 2);
  EXPECT_EQ(sizes.back(), 5000u);
  EXPECT_NEAR(sizer.micros_per_item(), 2.0, 1e-9);
}

TEST(ChunkSizerTest, OverheadOfSmallChunksFadesAsChunksGrow) {
  ChunkSizer sizer(Options());
  // 200 µs fixed per chunk, 1 µs per item: the first chunks look slow per
  // item, but the estimate approaches the true rate as chunks grow.
  std::vector<uint64_t> sizes = Ramp(sizer, 20, 200, 1);
  EXPECT_GT(sizes.back(), 8000u);
  EXPECT_LE(sizes.back(), 10000u);
}

TEST(ChunkSizerTest, SlowFunctionStaysAtOneItem) {
  ChunkSizer sizer(Options());
  // 1 s per item, far beyond the target: one item per chunk, always.
  EXPECT_EQ(Ramp(sizer, 5, 0, 1e6), (std::vector<uint64_t>{1, 1, 1, 1, 1}));
}

TEST(ChunkSizerTest, ShrinksWhenItemsBecomeSlower) {
  ChunkSizer sizer(Options());
  Ramp(sizer, 12, 0, 1);  // settles at 10000 items
  ASSERT_EQ(sizer.Next(), 10000u);
  // The items become 100 times slower: within a few chunks the size follows.
  Ramp(sizer, 6, 0, 100);
  EXPECT_LE(sizer.Next(), 120u);
  EXPECT_GE(sizer.Next(), 100u);
}

TEST(ChunkSizerTest, ZeroRunTimeGrowsByGrowthOnly) {
  ChunkSizer sizer(Options());
  sizer.ObserveResult(10, 0, 0);
  EXPECT_EQ(sizer.Next(), 40u);
}

TEST(ChunkSizerTest, BoundedByMaxItems) {
  ChunkSizerOptions options = Options();
  options.max_items = 300;
  ChunkSizer sizer(options);
  EXPECT_EQ(Ramp(sizer, 8, 0, 0.001).back(), 300u);
}

TEST(ChunkSizerTest, BoundedByInputBytesPerItem) {
  ChunkSizer sizer(Options());
  // 1 KiB per item pickled: at most 1024 items fit in 1 MiB.
  sizer.ObserveInput(100, 100 * 1024);
  Ramp(sizer, 10, 0, 0.001);
  EXPECT_EQ(sizer.Next(), 1024u);
}

TEST(ChunkSizerTest, BoundedByResultBytesPerItem) {
  ChunkSizer sizer(Options());
  for (int i = 0; i < 10; ++i) {
    const uint64_t items = sizer.Next();
    sizer.ObserveResult(items, 1, items * 4096);  // 4 KiB of results each
  }
  EXPECT_EQ(sizer.Next(), 256u);
  EXPECT_DOUBLE_EQ(sizer.bytes_per_item(), 4096.0);
}

TEST(ChunkSizerTest, TailShrinksToShareOfRemainingPerWorker) {
  ChunkSizer sizer(Options());
  Ramp(sizer, 12, 0, 1);
  ASSERT_EQ(sizer.Next(kStream, 4), 10000u);
  EXPECT_EQ(sizer.Next(100'000, 4), 10000u);
  EXPECT_EQ(sizer.Next(8'000, 4), 2000u);
  EXPECT_EQ(sizer.Next(7, 4), 2u);  // ceil(7 / 4)
  EXPECT_EQ(sizer.Next(1, 4), 1u);
}

TEST(ChunkSizerTest, NeverMoreThanRemainingNorLessThanOne) {
  ChunkSizerOptions options = Options();
  options.initial_items = 50;
  ChunkSizer sizer(options);
  EXPECT_EQ(sizer.Next(3, 1), 3u);
  EXPECT_EQ(sizer.Next(0, 1), 1u);
  EXPECT_EQ(sizer.Next(kStream, 0), 50u);  // parallelism 0 counts as 1
  options.initial_items = 0;
  EXPECT_EQ(ChunkSizer(options).Next(), 1u);
}

TEST(ChunkSizerTest, HugeIdealClampsWithoutOverflow) {
  ChunkSizerOptions options = Options();
  options.max_items = UINT64_MAX;
  options.max_bytes = UINT64_MAX;
  options.growth = UINT64_MAX;
  ChunkSizer sizer(options);
  sizer.ObserveResult(UINT64_MAX, 1, 0);
  EXPECT_GE(sizer.Next(), uint64_t{1} << 63);
  EXPECT_EQ(sizer.Next(12345, 1), 12345u);
}

}  // namespace
}  // namespace tq
