// ValidateClientOptions: each rule refused with a message naming the option
// and its value.
#include "client/options.h"

#include <string>

#include "gtest/gtest.h"

namespace tq {
namespace {

// The message of the kInvalidArgument `options` must be refused with.
std::string Refusal(const ClientOptions& options) {
  absl::Status status = ValidateClientOptions(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(ValidateClientOptionsTest, AcceptsTheDefaults) {
  EXPECT_TRUE(ValidateClientOptions(ClientOptions{}).ok());
}

TEST(ValidateClientOptionsTest, RefusesANonPositiveConnectTimeout) {
  ClientOptions options;
  options.connect_timeout_ms = 0;
  EXPECT_EQ(Refusal(options), "connect_timeout_ms (0) must be positive");
  options.connect_timeout_ms = -1000;
  EXPECT_EQ(Refusal(options), "connect_timeout_ms (-1000) must be positive");
}

TEST(ValidateClientOptionsTest, RefusesAConnectTimeoutOverADay) {
  ClientOptions options;
  options.connect_timeout_ms = kMaxConnectTimeoutMs;
  EXPECT_TRUE(ValidateClientOptions(options).ok());
  options.connect_timeout_ms = kMaxConnectTimeoutMs + 1;
  EXPECT_EQ(Refusal(options),
            "connect_timeout_ms (86400001) must be at most 86400000 (a day)");
}

TEST(ValidateClientOptionsTest, RefusesAResumeTimeoutBelowZeroOrOverADay) {
  ClientOptions options;
  options.resume_timeout_ms = 0;  // fail at once, as before protocol 5
  EXPECT_TRUE(ValidateClientOptions(options).ok());
  options.resume_timeout_ms = -1;
  EXPECT_EQ(Refusal(options),
            "resume_timeout_ms (-1) must be 0 to 86400000 (a day)");
  options.resume_timeout_ms = kMaxConnectTimeoutMs + 1;
  EXPECT_EQ(Refusal(options),
            "resume_timeout_ms (86400001) must be 0 to 86400000 (a day)");
}

TEST(ValidateClientOptionsTest, RefusesNegativeEmbeddedThreads) {
  ClientOptions options;
  options.embedded_threads = -2;
  EXPECT_EQ(Refusal(options),
            "embedded_threads (-2) must be 0 (usable CPUs) or more");
}

TEST(ValidateClientOptionsTest, RefusesHalfACurveConfiguration) {
  ClientOptions options;
  options.broker = "tcp://10.0.0.1:5555";
  options.curve_key_file = "client.key";
  EXPECT_EQ(Refusal(options),
            "curve_key_file needs curve_server_key_file, the broker's public "
            "key");
  options.curve_key_file = "";
  options.curve_server_key_file = "broker.pub";
  EXPECT_EQ(Refusal(options),
            "curve_server_key_file needs curve_key_file, our secret key");
  options.curve_key_file = "client.key";
  EXPECT_TRUE(ValidateClientOptions(options).ok());
}

TEST(ValidateClientOptionsTest, RefusesCurveForTheEmbeddedCluster) {
  ClientOptions options;
  options.curve_key_file = "client.key";
  options.curve_server_key_file = "broker.pub";
  EXPECT_EQ(Refusal(options),
            "CURVE keys are for a remote broker; give --broker (or TQ_BROKER)");
}

}  // namespace
}  // namespace tq
