// The worker loop over real TCP loopback, with the test playing the broker
// by hand on a ROUTER socket: a Worker run on its own thread, and a fixture
// that receives (with deadlines, never sleeping) and sends as the broker.
#ifndef TQ_TESTS_WORKER_WORKER_LOOP_TEST_UTIL_H_
#define TQ_TESTS_WORKER_WORKER_LOOP_TEST_UTIL_H_

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/protocol.h"
#include "common/zmq_socket.h"
#include "gtest/gtest.h"
#include "worker/worker.h"

namespace tq {

using std::chrono::steady_clock;

// Runs a Worker on its own thread; always stops and joins it, even when an
// assertion returns from the test early.
class RunningWorker {
 public:
  explicit RunningWorker(const WorkerOptions& options)
      : worker_(options), thread_([this] { status_ = worker_.Run(); }) {}
  ~RunningWorker() { Finish().IgnoreError(); }
  Worker& worker() { return worker_; }
  // Waits for Run() to return (after Stop() or on its own).
  absl::Status Join() {
    if (thread_.joinable()) thread_.join();
    return status_;
  }
  absl::Status Finish() {
    worker_.Stop();
    return Join();
  }

 private:
  Worker worker_;
  absl::Status status_ = absl::UnknownError("Run() has not returned");
  std::thread thread_;
};

class WorkerLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_ = zmq::socket_t(context_, zmq::socket_type::router);
    ConfigureSocket(router_);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = LastEndpoint(router_);
  }

  WorkerOptions Options() {
    WorkerOptions options;
    options.broker = endpoint_;
    options.threads = 2;
    options.prefetch = 1;
    options.name = "loop-test";
    options.heartbeat_interval_ms = 200;
    options.heartbeat_timeout_ms = 20'000;
    // The test answers by hand; give it time before a re-Hello.
    options.reconnect_min_ms = 10'000;
    options.reconnect_max_ms = 10'000;
    return options;
  }

  // Next message from the worker that is not a heartbeat (or any message,
  // with `heartbeats`), within 10 s.
  std::optional<v1::Envelope> Receive(bool heartbeats = false) {
    auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (steady_clock::now() < deadline) {
      std::vector<zmq::pollitem_t> items = {{router_.handle(), 0, ZMQ_POLLIN, 0}};
      PollIgnoringEintr(items, std::chrono::milliseconds(100));
      while (std::optional<Received> received = TryReceive(router_, true)) {
        EXPECT_TRUE(received->envelope.ok()) << received->envelope.status();
        if (!received->envelope.ok()) continue;
        peer_ = received->routing_id;
        if (received->envelope->has_heartbeat() && !heartbeats) continue;
        payloads_ = std::move(received->payloads);
        return *std::move(received->envelope);
      }
    }
    return std::nullopt;
  }

  void SendToWorker(v1::Envelope envelope,
                    const std::vector<Payload>& payloads = {}) {
    ASSERT_TRUE(SendTo(router_, peer_, envelope, payloads).ok());
  }

  // The ChunkOutput a report's result payload holds (of the last message).
  v1::ChunkOutput Output(const v1::ChunkReport& report) {
    v1::ChunkOutput output;
    EXPECT_EQ(report.outcome_case(), v1::ChunkReport::kResultPayload)
        << report.DebugString();
    if (report.outcome_case() == v1::ChunkReport::kResultPayload &&
        report.result_payload() < payloads_.size()) {
      EXPECT_TRUE(output.ParseFromString(
          payloads_[report.result_payload()].ToString()));
    }
    return output;
  }

  zmq::context_t context_;
  zmq::socket_t router_;
  std::string endpoint_;
  std::string peer_;
  std::vector<Payload> payloads_;  // of the last message Receive() returned
};

}  // namespace tq

#endif  // TQ_TESTS_WORKER_WORKER_LOOP_TEST_UTIL_H_
