// Internal to the client library. EmbeddedCluster: the cluster a client
// runs when given no broker address.
// It is the real thing, not a copy: the same Broker and Worker code, in this
// process, talking over inproc:// on one shared ZeroMQ context. Starting and
// stopping involve no fixed waits (Stop() wakes each loop), so a small job
// costs milliseconds end to end.
//
// Thread safety: construct and destroy from one thread; context() and
// endpoint() are constant.
#ifndef TQ_CLIENT_EMBEDDED_CLUSTER_H_
#define TQ_CLIENT_EMBEDDED_CLUSTER_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "broker/broker.h"
#include "client/options.h"
#include "worker/worker.h"
#include "zmq.hpp"

namespace tq {

class EmbeddedCluster {
 public:
  // Binds the broker to a fresh inproc endpoint and starts the broker loop
  // and a worker with `threads` pool threads (0 = UsableCpuCount()). With
  // `python`, both run shipped Python code (in runner processes).
  // kInvalidArgument, nothing started, if `threads` is negative.
  static absl::StatusOr<std::unique_ptr<EmbeddedCluster>> Start(
      int threads, const std::optional<EmbeddedPython>& python = std::nullopt);

  // Stops the worker, then the broker, and joins their threads.
  ~EmbeddedCluster();
  EmbeddedCluster(const EmbeddedCluster&) = delete;
  EmbeddedCluster& operator=(const EmbeddedCluster&) = delete;

  // The context clients must use to reach endpoint() (inproc is per context).
  zmq::context_t& context() { return context_; }
  const std::string& endpoint() const { return endpoint_; }
  // The worker's pool size (threads resolved).
  int worker_threads() const { return worker_->threads(); }

 private:
  EmbeddedCluster() = default;

  // Destroyed last: every socket closes before. inproc:// needs no I/O
  // thread (ZMQ_IO_THREADS 0, as the zmq_ctx_set manual allows for an
  // inproc-only context): one thread fewer to start on every run.
  zmq::context_t context_{0};
  std::string endpoint_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<Worker> worker_;
  std::thread broker_thread_;
  std::thread worker_thread_;
};

}  // namespace tq

#endif  // TQ_CLIENT_EMBEDDED_CLUSTER_H_
