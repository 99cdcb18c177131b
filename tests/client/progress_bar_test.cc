#include "client/progress_bar.h"

#include <cstdio>
#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

using ::testing::HasSubstr;

TEST(ProgressBarTest, ShowsDoneTotalRateAndEta) {
  std::string line = ProgressBar::Format(25000, 100000, 2.0);
  EXPECT_THAT(line, HasSubstr("25.0k / 100.0k items"));
  EXPECT_THAT(line, HasSubstr("12.5k/s"));
  EXPECT_THAT(line, HasSubstr("ETA 6s"));
}

TEST(ProgressBarTest, HandlesTheWholeUint64Range) {
  absl::uint128 total = absl::uint128(UINT64_MAX) + 1;
  std::string line = ProgressBar::Format(1000000, total, 1.0);
  EXPECT_THAT(line, HasSubstr("1.0M / "));
  EXPECT_THAT(line, HasSubstr("ETA"));
}

TEST(ProgressBarTest, DisabledBarWritesNothing) {
  char* data = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&data, &size);
  {
    ProgressBar bar(out, /*enabled=*/false, 100);
    for (int i = 0; i < 100; ++i) bar.Advance(1);
  }
  fflush(out);
  EXPECT_EQ(size, 0u);
  fclose(out);
  free(data);
}

}  // namespace
}  // namespace tq
