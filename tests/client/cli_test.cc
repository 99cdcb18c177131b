// Runs the built tq-client binary: every bad input fails with exit 1, a
// message on stderr naming the problem and nothing on stdout; good runs
// print exactly the expected output. Every wait has a deadline.
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/child_process.h"
#include "zmq.hpp"

extern char** environ;

namespace tq {
namespace {

using ::testing::HasSubstr;

constexpr auto kDeadline = std::chrono::seconds(30);

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

// The test's environment without TQ_BROKER: the client runs embedded.
std::vector<std::string> ChildEnv() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind("TQ_BROKER=", 0) != 0) env.emplace_back(*e);
  }
  return env;
}

Outcome RunClient(std::vector<std::string> args, std::string stdin_data = "") {
  args.insert(args.begin(), TQ_CLIENT_BINARY);
  ChildProcess client(args, ChildEnv(), stdin_data);
  Outcome outcome;
  outcome.code = client.Finish(kDeadline);
  EXPECT_NE(outcome.code, -1) << "tq-client did not exit in time";
  outcome.out = client.out();
  outcome.err = client.err();
  return outcome;
}

std::string TempFile(const std::string& content) {
  std::string path = ::testing::TempDir() + "tq_client_cli_input_" +
                     std::to_string(getpid()) + "_" +
                     std::to_string(rand());
  std::ofstream(path) << content;
  return path;
}

class TqClientCliTest : public ::testing::Test {
 protected:
  // Bad usage: exit 1, `message` on stderr, nothing on stdout.
  void ExpectUsageError(std::vector<std::string> args,
                        const std::string& message, std::string stdin_data = "") {
    Outcome outcome = RunClient(args, stdin_data);
    EXPECT_EQ(outcome.code, 1) << outcome.err;
    EXPECT_THAT(outcome.err, HasSubstr(message));
    EXPECT_EQ(outcome.out, "");
  }
};

TEST_F(TqClientCliTest, PrimesOneToHundredAsTsv) {
  Outcome outcome = RunClient({"map", "primes", "1", "100"});
  ASSERT_EQ(outcome.code, 0) << outcome.err;
  std::string expected;
  for (int n = 1; n <= 100; ++n) {
    bool prime = n >= 2;
    for (int d = 2; d * d <= n; ++d) prime = prime && n % d != 0;
    expected += std::to_string(n) + "\t" + (prime ? "true" : "false") + "\n";
  }
  EXPECT_EQ(outcome.out, expected);
  EXPECT_EQ(outcome.err, "");
}

TEST_F(TqClientCliTest, FormatsTrueCountAndJson) {
  EXPECT_EQ(RunClient({"map", "primes", "1", "30", "--format=true"}).out,
            "2\n3\n5\n7\n11\n13\n17\n19\n23\n29\n");
  EXPECT_EQ(RunClient({"--format=count", "map", "primes", "1", "1000000"}).out,
            "78498\n");
  EXPECT_EQ(RunClient({"map", "factor", "12", "12", "--format=json"}).out,
            "{\"n\":12,\"result\":[2,2,3]}\n");
}

TEST_F(TqClientCliTest, ReadsNumbersFromAFileAndStdin) {
  std::string path = TempFile("97\n1 2\n\t100\n");
  EXPECT_EQ(RunClient({"map", "primes", "--input=" + path}).out,
            "97\ttrue\n1\tfalse\n2\ttrue\n100\tfalse\n");
  EXPECT_EQ(RunClient({"map", "primes", "--input=-", "--format=true"}, "4 5 6 7").out,
            "5\n7\n");
  remove(path.c_str());
}

TEST_F(TqClientCliTest, EveryRepeatedParamReachesTheTask) {
  EXPECT_EQ(RunClient({"map", "spin", "1", "3", "--param", "us=1"}).out,
            "1\t1\n2\t2\n3\t3\n");
  // absl alone would keep only the last --param and miss the bad one.
  ExpectUsageError({"map", "spin", "1", "3", "--param=bogus=2", "--param=us=1"},
                   "bogus");
  ExpectUsageError({"map", "spin", "1", "3", "--param=us=1", "--param=bogus=2"},
                   "bogus");
}

TEST_F(TqClientCliTest, RejectsLoGreaterThanHi) {
  ExpectUsageError({"map", "primes", "10", "5"}, "LO 10 is greater than HI 5");
}

TEST_F(TqClientCliTest, RejectsNonNumbers) {
  ExpectUsageError({"map", "primes", "abc", "5"}, "'abc' is not a number");
  ExpectUsageError({"map", "primes", "1", "1e3"}, "'1e3' is not a number");
}

TEST_F(TqClientCliTest, RejectsBadAttachAndOutputUsage) {
  ExpectUsageError({"attach"}, "'attach' takes one JOB id");
  ExpectUsageError({"attach", "x7"}, "JOB: 'x7' is not a number");
  ExpectUsageError({"attach", "7"}, "'attach' needs a broker");
  ExpectUsageError({"attach", "7", "--token=12"}, "32 hex digits");
  ExpectUsageError({"map", "primes", "1", "10", "--format=bitmap",
                    "--output=" + TempFile("")},
                   "--output takes --format=tsv, json, true or count");
}

// --output writes the file instead of stdout (the embedded cluster: the
// acknowledgements after each sync change nothing visible).
TEST_F(TqClientCliTest, OutputGoesToTheFile) {
  const std::string path = TempFile("stale");
  Outcome outcome =
      RunClient({"map", "primes", "1", "30", "--format=true", "--output=" + path});
  ASSERT_EQ(outcome.code, 0) << outcome.err;
  EXPECT_EQ(outcome.out, "");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "2\n3\n5\n7\n11\n13\n17\n19\n23\n29\n");
}

TEST_F(TqClientCliTest, RejectsNegativeNumbers) {
  ExpectUsageError({"map", "primes", "-5", "5"},
                   "negative numbers are not allowed: '-5'");
}

TEST_F(TqClientCliTest, RejectsNumbersBeyondTwoToThe64) {
  ExpectUsageError({"map", "primes", "1", "18446744073709551616"},
                   "'18446744073709551616' exceeds 2^64-1");
}

TEST_F(TqClientCliTest, RejectsBadInputFiles) {
  std::string empty = TempFile(" \n");
  ExpectUsageError({"map", "primes", "--input=" + empty}, "contains no numbers");
  std::string bad = TempFile("1\n2\nxyz\n");
  ExpectUsageError({"map", "primes", "--input=" + bad}, ":3: 'xyz' is not a number");
  ExpectUsageError({"map", "primes", "--input=-"}, "stdin contains no numbers", "");
  ExpectUsageError({"map", "primes", "--input=/nonexistent/tq"}, "cannot read");
  remove(empty.c_str());
  remove(bad.c_str());
}

TEST_F(TqClientCliTest, UnknownTaskListsTheOfferedTasks) {
  Outcome outcome = RunClient({"map", "nosuchtask", "1", "10"});
  EXPECT_EQ(outcome.code, 1);
  EXPECT_THAT(outcome.err, HasSubstr("nosuchtask"));
  EXPECT_THAT(outcome.err, HasSubstr("primes"));
  EXPECT_EQ(outcome.out, "");
}

TEST_F(TqClientCliTest, RejectsUnknownFlagsFormatsAndArgumentCounts) {
  ExpectUsageError({"map", "primes", "1", "10", "--no-such-flag"}, "no_such_flag");
  ExpectUsageError({"map", "primes", "1", "10", "--format=xml"},
                   "unknown --format 'xml'");
  ExpectUsageError({"map", "primes", "1"}, "TASK LO HI");
  ExpectUsageError({"map", "primes", "1", "2", "3"}, "TASK LO HI");
  ExpectUsageError({}, "missing command");
  ExpectUsageError({"reduce"}, "unknown command 'reduce'");
  ExpectUsageError({"map", "factor", "1", "10", "--format=true"},
                   "needs a task with true/false results");
  ExpectUsageError({"map", "primes", "1", "10", "--param=oops"},
                   "is not key=value");
}

TEST_F(TqClientCliTest, RejectsBadConnectionOptionsBeforeStarting) {
  ExpectUsageError({"--connect-timeout=0", "map", "primes", "1", "10"},
                   "connect_timeout_ms (0) must be positive");
  ExpectUsageError({"--connect-timeout=inf", "tasks"},
                   "must be at most 86400000 (a day)");
  ExpectUsageError({"--resume-timeout=-1", "map", "primes", "1", "10"},
                   "resume_timeout_ms (-1000) must be 0 to 86400000 (a day)");
  ExpectUsageError({"--threads=-3", "map", "primes", "1", "10"},
                   "embedded_threads (-3) must be 0 (usable CPUs) or more");
}

TEST_F(TqClientCliTest, UnreachableBrokerExitsThreeNamingTheAddress) {
  zmq::context_t context;
  zmq::socket_t silent(context, zmq::socket_type::router);
  silent.set(zmq::sockopt::linger, 0);
  silent.bind("tcp://127.0.0.1:*");
  std::string endpoint = silent.get(zmq::sockopt::last_endpoint);
  Outcome outcome = RunClient({"--broker=" + endpoint, "--connect-timeout=0.3",
                               "map", "primes", "1", "10"});
  EXPECT_EQ(outcome.code, 3);
  EXPECT_THAT(outcome.err, HasSubstr(endpoint));
  EXPECT_EQ(outcome.out, "");
}

TEST_F(TqClientCliTest, SlowJobStreamsOutputThenSigintExits130) {
  // ~100 s of CPU on two threads: output and the progress bar must appear
  // long before the end, and SIGINT must end it.
  ChildProcess client({TQ_CLIENT_BINARY, "map", "spin", "1", "100000",
                       "--param=us=1000", "--chunk-size=10", "--threads=2",
                       "--progress=always"},
                      ChildEnv());
  ASSERT_TRUE(client.ReadUntil(
      [&] {
        return client.err().find("items") != std::string::npos &&
               client.out().find("1\t1\n") == 0;
      },
      kDeadline))
      << client.err();
  client.Signal(SIGINT);
  EXPECT_EQ(client.Finish(std::chrono::seconds(5)), 130) << client.err();
  EXPECT_THAT(client.err(), HasSubstr("interrupted"));
}

}  // namespace
}  // namespace tq
