// Runs the built tq-client binary against a scripted broker (a ROUTER socket
// on a thread of the test, answering from a script): what the CLI makes of
// results, failures and refusals a real cluster produces only under faults
// — failed items with --skip-failed, duplicates, a poison item that fails
// the job, lost workers, a busy broker — checked by output and exit code.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/payload.h"
#include "common/protocol.h"
#include "common/zmq_socket.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/child_process.h"
#include "tq/v1/tq.pb.h"
#include "zmq.hpp"

extern char** environ;

namespace tq {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kDeadline = std::chrono::seconds(30);

struct Message {
  v1::Envelope envelope;
  std::vector<Payload> payloads;
};

// A broker that welcomes one client and answers its SubmitJob with what
// `on_submit` returns; everything else is ignored. Serves until destroyed.
class ScriptedBroker {
 public:
  using Script = std::function<std::vector<Message>(const v1::SubmitJob&)>;

  explicit ScriptedBroker(Script on_submit)
      : router_(context_, zmq::socket_type::router),
        on_submit_(std::move(on_submit)) {
    ConfigureSocket(router_);
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = LastEndpoint(router_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedBroker() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }
  // The SubmitJob the client sent (read after the client exited).
  const v1::SubmitJob& submitted() const { return submitted_; }

 private:
  void Serve() {
    while (!stop_) {
      std::vector<zmq::pollitem_t> items = {
          {static_cast<void*>(router_), 0, ZMQ_POLLIN, 0}};
      PollIgnoringEintr(items, std::chrono::milliseconds(20));
      while (std::optional<Received> received = TryReceive(router_, true)) {
        if (!received->envelope.ok()) continue;
        const v1::Envelope& in = *received->envelope;
        std::vector<Message> out;
        if (in.has_hello()) {
          Message welcome;
          v1::Welcome* w = welcome.envelope.mutable_welcome();
          w->set_protocol_version(kProtocolVersion);
          w->set_heartbeat_interval_ms(1000);
          w->set_heartbeat_timeout_ms(10000);
          w->add_tasks("primes");
          w->set_max_result_window(64);
          w->set_worker_threads(2);
          out.push_back(std::move(welcome));
        } else if (in.has_submit_job()) {
          submitted_ = in.submit_job();
          out = on_submit_(in.submit_job());
        }
        for (const Message& m : out) {
          (void)SendTo(router_, received->routing_id, m.envelope, m.payloads);
        }
      }
    }
  }

  zmq::context_t context_;
  zmq::socket_t router_;
  std::string endpoint_;
  Script on_submit_;
  v1::SubmitJob submitted_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

Message Accepted(const v1::SubmitJob& submit, uint64_t job_id) {
  Message m;
  m.envelope.mutable_job_accepted()->set_request_id(submit.request_id());
  m.envelope.mutable_job_accepted()->set_job_id(job_id);
  m.envelope.mutable_job_accepted()->set_result_window(
      submit.result_window());
  return m;
}

// One result naming items [first, first + count): primes-style bits (item
// i true iff its number first_n + i is in `primes`), or failed with `error`.
struct Part {
  uint64_t first;
  uint64_t count;
  std::string error;
};
Message Results(uint64_t job_id, uint64_t lo, const std::vector<Part>& parts) {
  Message m;
  for (const Part& part : parts) {
    v1::ChunkResult* r = m.envelope.mutable_job_results()->add_results();
    r->set_job_id(job_id);
    r->set_first_item(part.first);
    r->set_item_count(part.count);
    if (!part.error.empty()) {
      r->mutable_error()->set_message(part.error);
      continue;
    }
    v1::ChunkOutput output;
    std::string bits((part.count + 7) / 8, '\0');
    for (uint64_t i = 0; i < part.count; ++i) {
      const uint64_t n = lo + part.first + i;
      bool prime = n >= 2;
      for (uint64_t d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
      if (prime) bits[i / 8] = static_cast<char>(bits[i / 8] | (1 << (i % 8)));
    }
    output.set_bits(bits);
    r->set_payload(static_cast<uint32_t>(m.payloads.size()));
    m.payloads.push_back(Payload::FromString(output.SerializeAsString()));
  }
  return m;
}

Message Finished(uint64_t job_id, absl::StatusCode code = absl::StatusCode::kOk,
                 const std::string& message = "") {
  Message m;
  m.envelope.mutable_job_finished()->set_job_id(job_id);
  m.envelope.mutable_job_finished()->set_code(static_cast<int32_t>(code));
  m.envelope.mutable_job_finished()->set_message(message);
  return m;
}

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

Outcome RunClient(const ScriptedBroker& broker, std::vector<std::string> args) {
  args.insert(args.begin(), {TQ_CLIENT_BINARY, "--broker=" + broker.endpoint(),
                             "--connect-timeout=10", "--progress=never"});
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  ChildProcess client(args, env);
  Outcome outcome;
  outcome.code = client.Finish(kDeadline);
  EXPECT_NE(outcome.code, -1) << "tq-client did not exit in time";
  outcome.out = client.out();
  outcome.err = client.err();
  return outcome;
}

// Job 1..10: items 0..2, then item 3 (n=4) failed, then 4..9; the first
// result arrives twice.
std::vector<Message> OneFailedItem(const v1::SubmitJob& submit) {
  return {Accepted(submit, 1),
          Results(1, 1, {{4, 6, ""}, {0, 3, ""}, {0, 3, ""},
                         {3, 1, "killed by SIGABRT"}}),
          Finished(1)};
}

TEST(TqClientScriptedTest, SkipFailedShowsFailedItemsInTsvAndExitsFive) {
  ScriptedBroker broker(OneFailedItem);
  Outcome outcome =
      RunClient(broker, {"map", "primes", "1", "10", "--skip-failed",
                         "--max-attempts=3", "--chunk-timeout=2",
                         "--timeout=5", "--stats"});
  EXPECT_EQ(outcome.code, 5) << outcome.err;
  EXPECT_EQ(outcome.out,
            "1\tfalse\n2\ttrue\n3\ttrue\n4\terror: killed by SIGABRT\n"
            "5\ttrue\n6\tfalse\n7\ttrue\n8\tfalse\n9\tfalse\n10\tfalse\n");
  EXPECT_THAT(outcome.err, HasSubstr("1 item failed on every attempt"));
  EXPECT_THAT(outcome.err,
              HasSubstr("tq-client stats: {\"chunks\": 3, \"items\": 10, "
                        "\"duplicates\": 1, \"failed_items\": 1}\n"));
  EXPECT_TRUE(broker.submitted().skip_failed());
  EXPECT_EQ(broker.submitted().max_attempts(), 3u);
  EXPECT_EQ(broker.submitted().chunk_timeout_ms(), 2000u);
  EXPECT_EQ(broker.submitted().timeout_ms(), 5000u);
}

TEST(TqClientScriptedTest, SkipFailedInJsonTrueCountAndBitmap) {
  ScriptedBroker broker(OneFailedItem);
  Outcome json = RunClient(broker, {"map", "primes", "1", "10",
                                    "--skip-failed", "--format=json"});
  EXPECT_EQ(json.code, 5) << json.err;
  EXPECT_THAT(json.out,
              HasSubstr("{\"n\":4,\"error\":\"killed by SIGABRT\"}\n"));
  Outcome only_true = RunClient(broker, {"map", "primes", "1", "10",
                                         "--skip-failed", "--format=true"});
  EXPECT_EQ(only_true.code, 5) << only_true.err;
  EXPECT_EQ(only_true.out, "2\n3\n5\n7\n");
  EXPECT_THAT(only_true.err,
              HasSubstr("item 3 (n=4) failed: killed by SIGABRT"));
  Outcome count = RunClient(broker, {"map", "primes", "1", "10",
                                     "--skip-failed", "--format=count"});
  EXPECT_EQ(count.code, 5) << count.err;
  EXPECT_EQ(count.out, "4\n");
  EXPECT_THAT(count.err, HasSubstr("item 3 (n=4) failed"));
  Outcome bitmap = RunClient(broker, {"map", "primes", "1", "10",
                                      "--skip-failed", "--format=bitmap"});
  EXPECT_EQ(bitmap.code, 5) << bitmap.err;
  // 1..10: 2, 3, 5, 7 true (bits 1, 2, 4, 6); 4 failed: bit 3 is 0.
  EXPECT_EQ(bitmap.out, std::string("\x56\x00", 2));
}

TEST(TqClientScriptedTest, APoisonItemFailsTheJobNamingItExitTwo) {
  ScriptedBroker broker([](const v1::SubmitJob& submit) {
    Message finished = Finished(
        1, absl::StatusCode::kUnavailable,
        "item 776 of job 1 failed 4 times; last error: killed by SIGABRT");
    finished.envelope.mutable_job_finished()->set_failed_item(776);
    return std::vector<Message>{Accepted(submit, 1),
                                Results(1, 1, {{0, 100, ""}}),
                                std::move(finished)};
  });
  Outcome outcome = RunClient(broker, {"map", "primes", "1", "1000"});
  EXPECT_EQ(outcome.code, 2) << outcome.err;
  EXPECT_THAT(outcome.err,
              HasSubstr("item 776 (n=777) of job 1 failed 4 times; last "
                        "error: killed by SIGABRT"));
  EXPECT_THAT(outcome.err, HasSubstr("output is incomplete"));
}

TEST(TqClientScriptedTest, AJobFailedByLostWorkersExitsTwoNotThree) {
  ScriptedBroker broker([](const v1::SubmitJob& submit) {
    return std::vector<Message>{
        Accepted(submit, 1),
        Finished(1, absl::StatusCode::kUnavailable,
                 "chunk 0 of job 1 failed 4 times; last error: worker lost")};
  });
  Outcome outcome = RunClient(broker, {"map", "primes", "1", "10"});
  EXPECT_EQ(outcome.code, 2) << outcome.err;
  EXPECT_THAT(outcome.err, HasSubstr("worker lost"));
}

TEST(TqClientScriptedTest, ResultsMissingAtTheEndAreAFailureNotSuccess) {
  ScriptedBroker broker([](const v1::SubmitJob& submit) {
    return std::vector<Message>{Accepted(submit, 1),
                                Results(1, 1, {{0, 4, ""}, {6, 4, ""}}),
                                Finished(1)};
  });
  Outcome outcome =
      RunClient(broker, {"map", "primes", "1", "10", "--format=count"});
  EXPECT_EQ(outcome.code, 2) << outcome.err;
  EXPECT_THAT(outcome.err, HasSubstr("cover 8 of 10 items"));
  EXPECT_EQ(outcome.out, "");  // no partial count passed off as the answer
}

TEST(TqClientScriptedTest, ABusyBrokerExitsFourSayingToRetry) {
  ScriptedBroker broker([](const v1::SubmitJob& submit) {
    Message error;
    error.envelope.mutable_error()->set_code(
        static_cast<int32_t>(absl::StatusCode::kResourceExhausted));
    error.envelope.mutable_error()->set_message("too many queued jobs (100)");
    error.envelope.mutable_error()->set_request_id(submit.request_id());
    error.envelope.mutable_error()->set_retryable(true);
    return std::vector<Message>{std::move(error)};
  });
  Outcome outcome = RunClient(broker, {"map", "primes", "1", "10"});
  EXPECT_EQ(outcome.code, 4) << outcome.err;
  EXPECT_THAT(outcome.err, HasSubstr("too many queued jobs"));
  EXPECT_THAT(outcome.err, HasSubstr("retry"));
  EXPECT_EQ(outcome.out, "");
}

TEST(TqClientScriptedTest, BadFailureFlagsAreUsageErrors) {
  ScriptedBroker broker(OneFailedItem);
  Outcome outcome =
      RunClient(broker, {"map", "primes", "1", "10", "--chunk-timeout=-1"});
  EXPECT_EQ(outcome.code, 1);
  EXPECT_THAT(outcome.err, HasSubstr("--chunk-timeout takes seconds"));
  outcome = RunClient(broker, {"map", "primes", "1", "10", "--timeout=nan"});
  EXPECT_EQ(outcome.code, 1);
  EXPECT_THAT(outcome.err, HasSubstr("--timeout takes seconds"));
}

}  // namespace
}  // namespace tq
