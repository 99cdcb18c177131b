// ValidateWorkerOptions: each rule refused with a message naming the option
// and its value; ResolveWorkerOptions fills only the automatic values;
// Worker::Run() refuses bad options before connecting.
#include "worker/worker_options.h"

#include <memory>
#include <string>

#include "common/cpu_count.h"
#include "gtest/gtest.h"
#include "worker/worker.h"

namespace tq {
namespace {

WorkerOptions ValidOptions() {
  WorkerOptions options;
  options.broker = "tcp://127.0.0.1:5555";  // the one option without default
  return options;
}

// The message of the kInvalidArgument `options` must be refused with.
std::string Refusal(const WorkerOptions& options) {
  absl::Status status = ValidateWorkerOptions(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(ValidateWorkerOptionsTest, AcceptsTheDefaultsGivenABroker) {
  EXPECT_TRUE(ValidateWorkerOptions(ValidOptions()).ok());
}

TEST(ValidateWorkerOptionsTest, RefusesNoBroker) {
  EXPECT_EQ(Refusal(WorkerOptions{}),
            "broker is required (--broker or $TQ_BROKER), e.g. "
            "tcp://10.0.0.1:5555");
}

TEST(ValidateWorkerOptionsTest, RefusesNegativeThreads) {
  WorkerOptions options = ValidOptions();
  options.threads = -1;
  EXPECT_EQ(Refusal(options), "threads (-1) must be 0 (usable CPUs) or more");
}

TEST(ValidateWorkerOptionsTest, RefusesPrefetchBelowMinusOne) {
  WorkerOptions options = ValidOptions();
  options.prefetch = -2;
  EXPECT_EQ(Refusal(options), "prefetch (-2) must be -1 (adaptive) or more");
  for (int prefetch : {-1, 0, 7}) {
    options.prefetch = prefetch;
    EXPECT_TRUE(ValidateWorkerOptions(options).ok()) << prefetch;
  }
}

TEST(ValidateWorkerOptionsTest, RefusesANonPositiveHeartbeatInterval) {
  WorkerOptions options = ValidOptions();
  options.heartbeat_interval_ms = 0;
  EXPECT_EQ(Refusal(options), "heartbeat_interval_ms (0) must be positive");
}

TEST(ValidateWorkerOptionsTest, RefusesATimeoutNotAboveTheInterval) {
  WorkerOptions options = ValidOptions();
  options.heartbeat_interval_ms = 5;
  options.heartbeat_timeout_ms = 3;
  EXPECT_EQ(Refusal(options),
            "heartbeat_timeout_ms (3) must be greater than "
            "heartbeat_interval_ms (5)");
  options.heartbeat_timeout_ms = 5;
  EXPECT_EQ(Refusal(options),
            "heartbeat_timeout_ms (5) must be greater than "
            "heartbeat_interval_ms (5)");
}

TEST(ValidateWorkerOptionsTest, RefusesABadReconnectBackOff) {
  WorkerOptions options = ValidOptions();
  options.reconnect_min_ms = 0;
  EXPECT_EQ(Refusal(options), "reconnect_min_ms (0) must be positive");
  options.reconnect_min_ms = 100;
  options.reconnect_max_ms = 50;
  EXPECT_EQ(Refusal(options),
            "reconnect_max_ms (50) must be at least reconnect_min_ms (100)");
  options.reconnect_max_ms = 100;  // a fixed back-off
  EXPECT_TRUE(ValidateWorkerOptions(options).ok());
}

TEST(ValidateWorkerOptionsTest, RefusesHalfACurveConfiguration) {
  WorkerOptions options = ValidOptions();
  options.curve_key_file = "worker.key";
  EXPECT_EQ(Refusal(options),
            "curve_key_file needs curve_server_key_file, the broker's public "
            "key");
  options.curve_key_file = "";
  options.curve_server_key_file = "broker.pub";
  EXPECT_EQ(Refusal(options),
            "curve_server_key_file needs curve_key_file, our secret key");
  options.curve_key_file = "worker.key";
  EXPECT_TRUE(ValidateWorkerOptions(options).ok());
}

TEST(ValidateWorkerOptionsTest, CodeOptionsNeedARuntimeTqRuns) {
  WorkerOptions options = ValidOptions();
  options.allow_code = {"python"};
  EXPECT_TRUE(ValidateWorkerOptions(options).ok());
  options.allow_code = {"java"};
  EXPECT_EQ(Refusal(options), "allow_code: unknown runtime 'java'; tq runs: python");
  options.allow_code = {"python"};
  options.python.clear();
  EXPECT_EQ(Refusal(options),
            "python (the interpreter) must be given with allow_code=python");
  options = ValidOptions();
  options.code_user = "nobody";
  EXPECT_EQ(Refusal(options),
            "code_user (nobody) runs shipped code: it needs allow_code");
}

TEST(ResolveWorkerOptionsTest, FillsTheAutomaticValuesOnly) {
  WorkerOptions resolved = ResolveWorkerOptions(ValidOptions());
  EXPECT_EQ(resolved.threads, UsableCpuCount());
  EXPECT_FALSE(resolved.name.empty());
  EXPECT_EQ(resolved.prefetch, -1);

  WorkerOptions given = ValidOptions();
  given.threads = 3;
  given.name = "w1";
  resolved = ResolveWorkerOptions(given);
  EXPECT_EQ(resolved.threads, 3);
  EXPECT_EQ(resolved.name, "w1");
}

// Counts connection attempts.
class SessionCounter : public WorkerMonitor {
 public:
  void OnSessionStarted() override { ++sessions; }
  int sessions = 0;
};

TEST(WorkerRunTest, RefusesBadOptionsBeforeConnecting) {
  auto counter = std::make_shared<SessionCounter>();
  WorkerOptions options = ValidOptions();
  options.threads = -4;
  options.monitor = counter;
  Worker worker(options);
  absl::Status status = worker.Run();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "threads (-4) must be 0 (usable CPUs) or more");
  EXPECT_EQ(counter->sessions, 0);
}

TEST(WorkerRunTest, RefusesAMissingBroker) {
  Worker worker(WorkerOptions{});
  EXPECT_EQ(worker.Run().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tq
