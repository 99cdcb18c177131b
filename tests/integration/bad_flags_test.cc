// tq-broker and tq-worker refuse bad flags with the library's message (the
// options' rules live with the options, not in the mains): exit 1, the
// message on stderr, nothing on stdout, nothing started.
#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/subprocess.h"

namespace tq::testing {
namespace {

// A refusal takes milliseconds; this only bounds a hang.
constexpr auto kExitTimeout = std::chrono::seconds(10);

struct BadFlags {
  std::vector<std::string> argv;
  std::string message;  // the whole stderr
};

void ExpectRefused(const BadFlags& run) {
  Subprocess process(run.argv);
  auto exit = process.Wait(kExitTimeout);
  ASSERT_TRUE(exit.has_value()) << run.argv[1];
  EXPECT_TRUE(exit->exited);
  EXPECT_EQ(exit->code, 1) << run.argv[1];
  EXPECT_EQ(process.stderr_text(), run.message);
  EXPECT_EQ(process.stdout_text(), "");  // no "listening on", no "metrics on"
}

TEST(BadFlagsTest, BrokerExitsOneNamingTheOption) {
  const std::string broker = BrokerBinary();
  for (const BadFlags& run : std::vector<BadFlags>{
           {{broker, "--listen= , "}, "tq-broker: listen names no endpoint\n"},
           {{broker, "--lease-ms=0"},
            "tq-broker: lease_ms (0) must be positive\n"},
           {{broker, "--heartbeat-interval-ms=5", "--heartbeat-timeout-ms=3",
             "--metrics-listen=127.0.0.1:0"},
            "tq-broker: heartbeat_timeout_ms (3) must be greater than "
            "heartbeat_interval_ms (5)\n"},
           {{broker, "--curve-clients=/nonexistent"},
            "tq-broker: curve_clients_dir (/nonexistent) needs curve_key_file, "
            "the broker's secret key\n"},
       }) {
    ExpectRefused(run);
  }
}

TEST(BadFlagsTest, WorkerExitsOneNamingTheOption) {
  const std::string worker = WorkerBinary();
  const std::string broker = "--broker=tcp://127.0.0.1:1";
  for (const BadFlags& run : std::vector<BadFlags>{
           {{worker, broker, "--threads=-1"},
            "tq-worker: threads (-1) must be 0 (usable CPUs) or more\n"},
           {{worker, broker, "--prefetch=-2", "--metrics-listen=127.0.0.1:0"},
            "tq-worker: prefetch (-2) must be -1 (adaptive) or more\n"},
           {{worker, broker, "--heartbeat-interval-ms=1000",
             "--heartbeat-timeout-ms=1000"},
            "tq-worker: heartbeat_timeout_ms (1000) must be greater than "
            "heartbeat_interval_ms (1000)\n"},
       }) {
    ExpectRefused(run);
  }
}

// libzmq refuses its multicast transports for ROUTER and DEALER sockets
// before any of their code runs, which is why executables link stand-ins
// for OpenPGM and NORM (common/no_multicast.cc): the refusal must stay a
// clear error, not reach one of those stand-ins.
TEST(BadFlagsTest, MulticastTransportsAreRefusedClearly) {
  const std::string refusal =
      "The protocol is not compatible with the socket type\n";
  for (const std::string endpoint :
       {"pgm://lo;239.1.1.1:5555", "epgm://lo;239.1.1.1:5555",
        "norm://127.0.0.1:5555"}) {
    ExpectRefused({{BrokerBinary(), "--listen=" + endpoint},
                   "tq-broker: cannot listen on " + endpoint + ": " + refusal});
    ExpectRefused({{ClientBinary(), "map", "primes", "1", "10",
                    "--broker=" + endpoint},
                   "tq-client: bad broker address '" + endpoint + "': " +
                       refusal});
  }
}

}  // namespace
}  // namespace tq::testing
