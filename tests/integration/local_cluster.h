// A real cluster for multi-process tests: one tq-broker process bound to an
// ephemeral loopback port, any number of tq-worker processes, and tq-client
// runs against it. Everything is torn down (SIGKILL) when it goes out of scope.
#ifndef TQ_TESTS_INTEGRATION_LOCAL_CLUSTER_H_
#define TQ_TESTS_INTEGRATION_LOCAL_CLUSTER_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/subprocess.h"

namespace tq::testing {

class LocalCluster {
 public:
  // Starts the broker with `broker_flags` added and waits for its
  // "listening on" line; fails the current test if it does not come.
  explicit LocalCluster(std::vector<std::string> broker_flags = {});

  const std::string& endpoint() const { return endpoint_; }
  Subprocess& broker() { return *broker_; }
  Subprocess& worker(size_t i) { return *workers_.at(i); }

  // SIGKILLs the broker and starts a new one on the same endpoint (workers
  // keep running and must find it again).
  void RestartBroker();
  // Starts a tq-worker connected to the broker, with `extra_env`
  // ("NAME=value") over the test's environment.
  Subprocess& AddWorker(std::vector<std::string> flags = {"--threads=1"},
                        std::vector<std::string> extra_env = {});
  // Starts a tq-client with --broker set; `args` follow.
  std::unique_ptr<Subprocess> StartClient(std::vector<std::string> args,
                                          std::string stdin_data = "");

 private:
  void StartBroker(const std::string& listen);

  std::vector<std::string> broker_flags_;
  std::unique_ptr<Subprocess> broker_;
  std::vector<std::unique_ptr<Subprocess>> workers_;
  std::string endpoint_;
};

// Deadline used for a whole client run in these tests.
inline constexpr auto kJobTimeout = std::chrono::seconds(60);

// Broker and worker flags for restart tests: a lost peer is noticed within
// a second (heartbeats every 200 ms).
inline const std::vector<std::string> kFastLiveness = {
    "--heartbeat-interval-ms=200", "--heartbeat-timeout-ms=1000"};

// A one-thread worker with kFastLiveness.
inline std::vector<std::string> OneThreadWorker() {
  std::vector<std::string> flags = kFastLiveness;
  flags.push_back("--threads=1");
  return flags;
}

}  // namespace tq::testing

#endif  // TQ_TESTS_INTEGRATION_LOCAL_CLUSTER_H_
