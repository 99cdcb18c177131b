#include "common/random.h"

#include <cstdint>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace tq {
namespace {

TEST(RandomTest, TokensHaveTheirSizeAndDoNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string token = RandomBytes(16);
    ASSERT_EQ(token.size(), 16u);
    EXPECT_TRUE(seen.insert(token).second) << "a 128-bit token came twice";
  }
  EXPECT_NE(RandomU64(), RandomU64());
}

TEST(RandomTest, FillsLargeBuffersWhole) {
  // Every byte written (getrandom may return fewer bytes than asked): in
  // 1 MiB of random bytes, each of 256 values appears.
  const std::string bytes = RandomBytes(1 << 20);
  std::set<unsigned char> values(bytes.begin(), bytes.end());
  EXPECT_EQ(values.size(), 256u);
  EXPECT_NE(bytes.substr(bytes.size() - 64), std::string(64, '\0'));
}

}  // namespace
}  // namespace tq
