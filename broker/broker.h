// tq-broker as a library: binds the listen endpoints and runs the broker loop
// (one thread owns the ROUTER socket and drives the Scheduler). tq-broker's
// main and the client's embedded cluster both run this.
#ifndef TQ_BROKER_BROKER_H_
#define TQ_BROKER_BROKER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "broker/broker_options.h"
#include "zmq.hpp"

namespace tq {

class Broker {
 public:
  // `context` must outlive the broker; nullptr makes the broker own one.
  explicit Broker(BrokerOptions options, zmq::context_t* context = nullptr);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Checks the options (kInvalidArgument from ValidateBrokerOptions, nothing
  // bound), then binds every listen endpoint; an error names the endpoint
  // and the cause.
  absl::Status Bind();
  // The endpoints actually bound, ports resolved. Valid after Bind().
  std::vector<std::string> bound_endpoints() const;
  // Runs the loop on the calling thread until Stop(); then closes the socket.
  absl::Status Run();
  // Makes Run() return soon. Thread-safe and async-signal-safe.
  void Stop();

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace tq

#endif  // TQ_BROKER_BROKER_H_
