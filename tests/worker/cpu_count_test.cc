// cpu_count: cgroup v2 cpu.max and v1 CFS quota parsing on fake cgroup
// directories, and the overall bound by the affinity mask.
#include "common/cpu_count.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace tq {
namespace {

class CpuCountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tq_cpu_count_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& file, const std::string& text) {
    std::ofstream out(dir_ + "/" + file);
    out << text;
  }

  std::string dir_;
};

TEST_F(CpuCountTest, V2MaxMeansNoLimit) {
  Write("cpu.max", "max 100000\n");
  EXPECT_EQ(CgroupV2CpuLimit(dir_), std::nullopt);
}

TEST_F(CpuCountTest, V2FractionalQuotaRoundsUp) {
  Write("cpu.max", "150000 100000\n");
  EXPECT_EQ(CgroupV2CpuLimit(dir_), 2);
}

TEST_F(CpuCountTest, V2QuotaBelowOneCpuIsOne) {
  Write("cpu.max", "50000 100000\n");
  EXPECT_EQ(CgroupV2CpuLimit(dir_), 1);
}

TEST_F(CpuCountTest, V2WholeCpus) {
  Write("cpu.max", "400000 100000\n");
  EXPECT_EQ(CgroupV2CpuLimit(dir_), 4);
}

TEST_F(CpuCountTest, V2GarbageMeansNoLimit) {
  for (const char* text : {"garbage\n", "abc 100000\n", "150000\n", "12x 100000\n",
                           "150000 0\n", "-5 100000\n", ""}) {
    Write("cpu.max", text);
    EXPECT_EQ(CgroupV2CpuLimit(dir_), std::nullopt) << "'" << text << "'";
  }
}

TEST_F(CpuCountTest, V2MissingFileMeansNoLimit) {
  EXPECT_EQ(CgroupV2CpuLimit(dir_), std::nullopt);
}

TEST_F(CpuCountTest, V2HugeQuotaDoesNotOverflow) {
  Write("cpu.max", "9223372036854775807 1\n");
  std::optional<int> limit = CgroupV2CpuLimit(dir_);
  ASSERT_TRUE(limit.has_value());
  EXPECT_GT(*limit, 0);
}

TEST_F(CpuCountTest, V1QuotaRoundsUp) {
  Write("cpu.cfs_quota_us", "150000\n");
  Write("cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CgroupV1CpuLimit(dir_), 2);
}

TEST_F(CpuCountTest, V1MinusOneMeansNoLimit) {
  Write("cpu.cfs_quota_us", "-1\n");
  Write("cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CgroupV1CpuLimit(dir_), std::nullopt);
}

TEST_F(CpuCountTest, V1GarbageMeansNoLimit) {
  Write("cpu.cfs_quota_us", "lots\n");
  Write("cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CgroupV1CpuLimit(dir_), std::nullopt);
  Write("cpu.cfs_quota_us", "50000\n");
  Write("cpu.cfs_period_us", "1e5\n");
  EXPECT_EQ(CgroupV1CpuLimit(dir_), std::nullopt);
}

TEST(CpuCountSystemTest, UsableNeverExceedsAffinityAndIsPositive) {
  int usable = UsableCpuCount();
  EXPECT_GE(usable, 1);
  EXPECT_LE(usable, AffinityCpuCount());
}

}  // namespace
}  // namespace tq
