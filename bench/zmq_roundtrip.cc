// The raw ZeroMQ round-trip rate of this machine, the yardstick for bench P2:
// a DEALER keeps `window` small messages in flight to a ROUTER echo thread
// over TCP loopback, the same socket pattern tq uses. Prints
//   raw_roundtrips_per_second <N>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "zmq.hpp"

int main(int argc, char** argv) {
  const long total = argc > 1 ? std::atol(argv[1]) : 500000;
  const int window = argc > 2 ? std::atoi(argv[2]) : 64;
  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.bind("tcp://127.0.0.1:*");
  std::string endpoint = router.get(zmq::sockopt::last_endpoint);

  std::thread echo([&] {
    for (long i = 0; i < total; ++i) {
      zmq::message_t id, body;
      if (!router.recv(id) || !router.recv(body)) return;
      router.send(id, zmq::send_flags::sndmore);
      router.send(body, zmq::send_flags::none);
    }
  });

  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.connect(endpoint);
  const std::string payload(32, 'x');  // about one small tq message
  auto start = std::chrono::steady_clock::now();
  long sent = 0, received = 0;
  while (received < total) {
    while (sent < total && sent - received < window) {
      dealer.send(zmq::buffer(payload), zmq::send_flags::none);
      ++sent;
    }
    zmq::message_t reply;
    if (!dealer.recv(reply)) break;
    ++received;
  }
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start).count();
  echo.join();
  std::printf("raw_roundtrips_per_second %.0f\n", received / seconds);
  return 0;
}
