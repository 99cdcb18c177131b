// ValidateBrokerOptions: each rule refused with a message naming the option
// and its value; Bind() refuses bad options before binding anything.
#include "broker/broker_options.h"

#include <string>

#include "broker/broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace tq {
namespace {

// The message of the kInvalidArgument `options` must be refused with.
std::string Refusal(const BrokerOptions& options) {
  absl::Status status = ValidateBrokerOptions(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(ValidateBrokerOptionsTest, AcceptsTheDefaults) {
  EXPECT_TRUE(ValidateBrokerOptions(BrokerOptions{}).ok());
}

TEST(ValidateBrokerOptionsTest, AStandbyPairNeedsItsJournalAndBothEndpoints) {
  BrokerOptions options;
  options.pair = PairRole::kBackup;
  options.pair_listen = "tcp://*:5557";
  options.pair_peer = "tcp://primary:5557";
  EXPECT_THAT(Refusal(options), ::testing::HasSubstr("journal_dir"));
  options.journal_dir = "/var/lib/tq";
  EXPECT_TRUE(ValidateBrokerOptions(options).ok());
  options.pair_peer.clear();
  EXPECT_THAT(Refusal(options), ::testing::HasSubstr("pair_peer"));
  options.pair_peer = "tcp://primary:5557";
  options.pair_timeout_ms = 10;
  EXPECT_THAT(Refusal(options), ::testing::HasSubstr("pair_timeout_ms (10)"));
  options.pair_timeout_ms = 2000;
  // Under CURVE the pair link must be too: it feeds the passive's journal.
  options.curve_key_file = "broker.key";
  EXPECT_THAT(Refusal(options), ::testing::HasSubstr("pair_peer_key_file"));
  options.pair_peer_key_file = "peer.pub";
  EXPECT_TRUE(ValidateBrokerOptions(options).ok());
}

TEST(ValidateBrokerOptionsTest, PairSettingsWithoutAPairAreRefused) {
  BrokerOptions options;
  options.pair_peer = "tcp://other:5557";
  EXPECT_THAT(Refusal(options), ::testing::HasSubstr("need pair"));
}

TEST(ValidateBrokerOptionsTest, AcceptsCurveWithAllowlists) {
  BrokerOptions options;
  options.curve_key_file = "broker.key";
  options.curve_clients_dir = "clients";
  options.curve_workers_dir = "workers";
  EXPECT_TRUE(ValidateBrokerOptions(options).ok());
}

TEST(ValidateBrokerOptionsTest, RefusesNoEndpointOrAnEmptyOne) {
  BrokerOptions options;
  options.listen.clear();
  EXPECT_EQ(Refusal(options), "listen names no endpoint");
  options.listen = {"tcp://127.0.0.1:*", ""};
  EXPECT_EQ(Refusal(options), "listen has an empty endpoint");
}

TEST(ValidateBrokerOptionsTest, RefusesANonPositiveHeartbeatInterval) {
  BrokerOptions options;
  options.heartbeat_interval_ms = 0;
  EXPECT_EQ(Refusal(options), "heartbeat_interval_ms (0) must be positive");
  options.heartbeat_interval_ms = -5;
  EXPECT_EQ(Refusal(options), "heartbeat_interval_ms (-5) must be positive");
}

TEST(ValidateBrokerOptionsTest, RefusesATimeoutNotAboveTheInterval) {
  BrokerOptions options;
  options.heartbeat_interval_ms = 5;
  options.heartbeat_timeout_ms = 3;
  EXPECT_EQ(Refusal(options),
            "heartbeat_timeout_ms (3) must be greater than "
            "heartbeat_interval_ms (5)");
  options.heartbeat_timeout_ms = 5;
  EXPECT_EQ(Refusal(options),
            "heartbeat_timeout_ms (5) must be greater than "
            "heartbeat_interval_ms (5)");
  options.heartbeat_timeout_ms = 6;
  EXPECT_TRUE(ValidateBrokerOptions(options).ok());
}

TEST(ValidateBrokerOptionsTest, RefusesANonPositiveLease) {
  BrokerOptions options;
  options.lease_ms = 0;
  EXPECT_EQ(Refusal(options), "lease_ms (0) must be positive");
  options.lease_ms = -1;
  EXPECT_EQ(Refusal(options), "lease_ms (-1) must be positive");
}

TEST(ValidateBrokerOptionsTest, RefusesZeroAttemptsOrWindow) {
  BrokerOptions options;
  options.max_attempts = 0;
  EXPECT_EQ(Refusal(options), "max_attempts (0) must be at least 1");
  options = BrokerOptions{};
  options.max_result_window = 0;
  EXPECT_EQ(Refusal(options), "max_result_window (0) must be at least 1");
}

TEST(ValidateBrokerOptionsTest, RefusesAllowlistsWithoutTheBrokersKey) {
  BrokerOptions options;
  options.curve_clients_dir = "keys/clients";
  EXPECT_EQ(Refusal(options),
            "curve_clients_dir (keys/clients) needs curve_key_file, the "
            "broker's secret key");
  options = BrokerOptions{};
  options.curve_workers_dir = "keys/workers";
  EXPECT_EQ(Refusal(options),
            "curve_workers_dir (keys/workers) needs curve_key_file, the "
            "broker's secret key");
}

TEST(ValidateBrokerOptionsTest, CodeBeyondLoopbackNeedsAKeyListOrConsent) {
  BrokerOptions options;
  options.allow_code = {"python"};
  options.listen = {"tcp://127.0.0.1:5555", "inproc://x", "ipc:///tmp/tq"};
  EXPECT_TRUE(ValidateBrokerOptions(options).ok());
  options.listen.push_back("tcp://*:5555");
  EXPECT_THAT(Refusal(options),
              ::testing::HasSubstr("--allow-code on tcp://*:5555 would let "
                                   "anyone who reaches that port run code"));
  options.allow_code_insecure = true;
  EXPECT_TRUE(ValidateBrokerOptions(options).ok());
  options.allow_code_insecure = false;
  options.curve_key_file = "keys/broker.key";
  options.curve_code_clients_dir = "keys/coders";
  EXPECT_TRUE(ValidateBrokerOptions(options).ok());
  options.curve_key_file.clear();
  EXPECT_EQ(Refusal(options),
            "curve_code_clients_dir (keys/coders) needs curve_key_file, the "
            "broker's secret key");
}

TEST(ValidateBrokerOptionsTest, RefusesAnUnknownRuntimeAndNoJobsPerClient) {
  BrokerOptions options;
  options.allow_code = {"ruby"};
  EXPECT_EQ(Refusal(options), "allow_code: unknown runtime 'ruby'; tq runs: python");
  options.allow_code.clear();
  options.max_jobs_per_client = 0;
  EXPECT_EQ(Refusal(options), "max_jobs_per_client (0) must be at least 1");
}

TEST(ValidateBrokerOptionsTest, RefusesZeroBrokerWideLimits) {
  BrokerOptions options;
  options.max_jobs = 0;
  EXPECT_EQ(Refusal(options), "max_jobs (0) must be at least 1");
  options.max_jobs = 1;
  options.max_chunks_in_flight = 0;
  EXPECT_EQ(Refusal(options), "max_chunks_in_flight (0) must be at least 1");
  options.max_chunks_in_flight = 1;
  options.max_connections = 0;
  EXPECT_EQ(Refusal(options), "max_connections (0) must be at least 1");
  options.max_connections = 1;
  options.max_connections_per_address = 0;
  EXPECT_EQ(Refusal(options),
            "max_connections_per_address (0) must be at least 1");
  options.max_connections_per_address = 1;
  EXPECT_TRUE(ValidateBrokerOptions(options).ok());
}

TEST(IsLocalEndpointTest, LoopbackInprocAndIpcOnly) {
  for (const char* local : {"tcp://127.0.0.1:1", "tcp://127.8.0.3:*",
                            "tcp://localhost:5", "tcp://[::1]:5", "inproc://a",
                            "ipc:///tmp/x"}) {
    EXPECT_TRUE(IsLocalEndpoint(local)) << local;
  }
  for (const char* remote : {"tcp://*:5555", "tcp://0.0.0.0:1", "tcp://10.0.0.1:1",
                             "tcp://eth0:5", "tcp://[::]:5", "udp://127.0.0.1:1"}) {
    EXPECT_FALSE(IsLocalEndpoint(remote)) << remote;
  }
}

TEST(BrokerBindTest, BindRefusesBadOptionsBeforeBinding) {
  zmq::context_t context;
  BrokerOptions options;
  options.listen = {"inproc://tq-broker-options-test"};
  options.lease_ms = 0;
  Broker broker(options, &context);
  absl::Status status = broker.Bind();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "lease_ms (0) must be positive");
  EXPECT_TRUE(broker.bound_endpoints().empty());
  // The endpoint is still free: nothing was bound.
  zmq::socket_t probe(context, zmq::socket_type::router);
  EXPECT_NO_THROW(probe.bind("inproc://tq-broker-options-test"));
}

TEST(BrokerBindTest, RunRefusesBadOptionsToo) {
  BrokerOptions options;
  options.listen = {"inproc://tq-broker-options-run-test"};
  options.heartbeat_timeout_ms = options.heartbeat_interval_ms;
  Broker broker(options);
  EXPECT_EQ(broker.Run().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tq
