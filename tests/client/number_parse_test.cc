#include "client/number_parse.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseNumberTest, AcceptsZeroAndTheLargestUint64) {
  EXPECT_EQ(*ParseNumber("0"), 0u);
  EXPECT_EQ(*ParseNumber("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(*ParseNumber("007"), 7u);
}

TEST(ParseNumberTest, RejectsValuesBeyondTwoToThe64) {
  for (const char* text : {"18446744073709551616", "18446744073709551620",
                           "99999999999999999999999"}) {
    absl::StatusOr<uint64_t> n = ParseNumber(text);
    ASSERT_FALSE(n.ok()) << text;
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(n.status().message(), HasSubstr("exceeds 2^64-1"));
    EXPECT_THAT(n.status().message(), HasSubstr(text));
  }
}

TEST(ParseNumberTest, RejectsNegativeNumbersByName) {
  absl::StatusOr<uint64_t> n = ParseNumber("-5");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().message(), "negative numbers are not allowed: '-5'");
}

TEST(ParseNumberTest, RejectsAnythingButDecimalDigits) {
  for (const char* text : {"abc", "", "+1", "1.5", "0x10", "1e3", " 1", "1 ",
                           "12a", "-", "--1"}) {
    absl::StatusOr<uint64_t> n = ParseNumber(text);
    ASSERT_FALSE(n.ok()) << "'" << text << "'";
    EXPECT_THAT(n.status().message(), HasSubstr("is not a number")) << text;
  }
  EXPECT_EQ(ParseNumber("abc").status().message(), "'abc' is not a number");
}

TEST(ParseNumberListTest, SplitsOnAnyWhitespace) {
  absl::StatusOr<std::vector<uint64_t>> list =
      ParseNumberList(" 1\t2\n\n3 \r\n18446744073709551615\n", "in");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(*list, ElementsAre(1, 2, 3, UINT64_MAX));
}

TEST(ParseNumberListTest, NamesTheSourceAndLineOfABadNumber) {
  absl::StatusOr<std::vector<uint64_t>> list =
      ParseNumberList("1 2\n3\nabc 4\n", "input.txt");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().message(), "input.txt:3: 'abc' is not a number");
  list = ParseNumberList("1\n-7\n", "f");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().message(), "f:2: negative numbers are not allowed: '-7'");
}

TEST(ParseNumberListTest, RejectsAnEmptyList) {
  for (const char* text : {"", "  \n\t\n"}) {
    absl::StatusOr<std::vector<uint64_t>> list = ParseNumberList(text, "stdin");
    ASSERT_FALSE(list.ok());
    EXPECT_EQ(list.status().message(), "stdin contains no numbers");
  }
}

}  // namespace
}  // namespace tq
