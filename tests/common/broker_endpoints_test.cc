// ParseBrokerEndpoints: a list of brokers (a standby pair) and a CURVE
// server key per broker, or one for all; what is wrong is named.
#include "common/broker_endpoints.h"

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

using ::testing::HasSubstr;

TEST(ParseBrokerEndpointsTest, SplitsAListAndIgnoresBlanks) {
  std::string warning;
  auto endpoints =
      ParseBrokerEndpoints("tcp://a:5555, tcp://b:5555", "", "", &warning);
  ASSERT_TRUE(endpoints.ok()) << endpoints.status();
  ASSERT_EQ(endpoints->size(), 2u);
  EXPECT_EQ((*endpoints)[0].address, "tcp://a:5555");
  EXPECT_EQ((*endpoints)[1].address, "tcp://b:5555");
  EXPECT_FALSE((*endpoints)[1].curve.has_value());
}

TEST(ParseBrokerEndpointsTest, AnEmptyEntryIsNamed) {
  std::string warning;
  auto endpoints =
      ParseBrokerEndpoints("tcp://a:5555,,tcp://b:5555", "", "", &warning);
  EXPECT_EQ(endpoints.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(endpoints.status().message(), HasSubstr("empty entry"));
}

class BrokerEndpointKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "tq_endpoints_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    own_ = NewCurveKeyPair().value();
    a_ = NewCurveKeyPair().value();
    b_ = NewCurveKeyPair().value();
    ASSERT_TRUE(WriteCurveKeyFiles(dir_, "own", own_).ok());
    ASSERT_TRUE(WriteCurveKeyFiles(dir_, "a", a_).ok());
    ASSERT_TRUE(WriteCurveKeyFiles(dir_, "b", b_).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  CurveKeyPair own_, a_, b_;
};

TEST_F(BrokerEndpointKeysTest, EachBrokerGetsItsOwnServerKey) {
  std::string warning;
  auto endpoints =
      ParseBrokerEndpoints("tcp://a:5555,tcp://b:5555", dir_ + "/own.key",
                           dir_ + "/a.pub," + dir_ + "/b.pub", &warning);
  ASSERT_TRUE(endpoints.ok()) << endpoints.status();
  ASSERT_TRUE((*endpoints)[0].curve.has_value());
  EXPECT_EQ((*endpoints)[0].curve->server_public_key, a_.public_key);
  EXPECT_EQ((*endpoints)[1].curve->server_public_key, b_.public_key);
  EXPECT_EQ((*endpoints)[1].curve->own.public_key, own_.public_key);
}

TEST_F(BrokerEndpointKeysTest,
       OneKeyServesEveryBrokerAndACountMismatchIsNamed) {
  std::string warning;
  auto shared =
      ParseBrokerEndpoints("tcp://a:5555,tcp://b:5555", dir_ + "/own.key",
                           dir_ + "/a.pub", &warning);
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_EQ((*shared)[1].curve->server_public_key, a_.public_key);
  auto mismatch = ParseBrokerEndpoints(
      "tcp://a:5555,tcp://b:5555,tcp://c:5555", dir_ + "/own.key",
      dir_ + "/a.pub," + dir_ + "/b.pub", &warning);
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      mismatch.status().message(),
      HasSubstr("2 broker public keys (--curve-server-key) for 3 brokers"));
}

}  // namespace
}  // namespace tq
