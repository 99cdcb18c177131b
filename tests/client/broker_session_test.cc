// BrokerSession against a scripted broker: a ROUTER socket driven by the
// test, so the client's side of the protocol (Hello, result_window, credit
// batching, heartbeats, failures) is checked message by message.
#include "client/broker_session.h"

#include <chrono>
#include <future>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/protocol.h"
#include "common/zmq_socket.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq::internal {
namespace {

using ::testing::HasSubstr;

constexpr auto kDeadline = std::chrono::seconds(10);

class ScriptedBroker {
 public:
  ScriptedBroker() : router_(context_, zmq::socket_type::router) {
    ConfigureSocket(router_);
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = LastEndpoint(router_);
  }
  const std::string& endpoint() const { return endpoint_; }

  // The next message with `body`, skipping others (credit, heartbeats).
  v1::Envelope ReceiveBody(v1::Envelope::BodyCase body) {
    for (int i = 0; i < 100; ++i) {
      v1::Envelope envelope = Receive();
      if (envelope.body_case() == body || envelope.body_case() == 0) {
        return envelope;
      }
    }
    return v1::Envelope();
  }
  // Next message that is not a heartbeat, waiting up to the deadline; its
  // payloads are kept in payloads().
  v1::Envelope Receive(bool skip_heartbeats = true) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<zmq::pollitem_t> items = {
          {static_cast<void*>(router_), 0, ZMQ_POLLIN, 0}};
      PollIgnoringEintr(items, std::chrono::milliseconds(100));
      while (std::optional<Received> received = TryReceive(router_, true)) {
        peer_ = received->routing_id;
        EXPECT_TRUE(received->envelope.ok());
        if (!received->envelope.ok()) continue;
        if (skip_heartbeats && received->envelope->has_heartbeat()) continue;
        payloads_ = std::move(received->payloads);
        return *received->envelope;
      }
    }
    ADD_FAILURE() << "no message from the client in time";
    return v1::Envelope();
  }
  // A message other than a heartbeat within `wait`, if any (to show that
  // none comes).
  std::optional<v1::Envelope> ReceiveWithin(std::chrono::milliseconds wait) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<zmq::pollitem_t> items = {
          {static_cast<void*>(router_), 0, ZMQ_POLLIN, 0}};
      PollIgnoringEintr(items, std::chrono::milliseconds(20));
      while (std::optional<Received> received = TryReceive(router_, true)) {
        if (received->envelope.ok() && !received->envelope->has_heartbeat()) {
          return *received->envelope;
        }
      }
    }
    return std::nullopt;
  }
  const std::vector<Payload>& payloads() const { return payloads_; }
  void Send(v1::Envelope envelope, const std::vector<Payload>& payloads = {}) {
    ASSERT_TRUE(SendTo(router_, peer_, envelope, payloads).ok());
  }
  void Welcome(uint32_t interval_ms = 1000, uint32_t timeout_ms = 5000) {
    v1::Envelope welcome;
    welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
    welcome.mutable_welcome()->set_heartbeat_interval_ms(interval_ms);
    welcome.mutable_welcome()->set_heartbeat_timeout_ms(timeout_ms);
    welcome.mutable_welcome()->add_tasks("primes");
    welcome.mutable_welcome()->set_max_result_window(256);
    Send(welcome);
  }
  void Accept(uint64_t request_id, uint64_t job_id, uint64_t chunk_size,
              uint64_t chunk_count, uint32_t window) {
    v1::Envelope accepted;
    accepted.mutable_job_accepted()->set_request_id(request_id);
    accepted.mutable_job_accepted()->set_job_id(job_id);
    accepted.mutable_job_accepted()->set_chunk_size(chunk_size);
    accepted.mutable_job_accepted()->set_chunk_count(chunk_count);
    accepted.mutable_job_accepted()->set_result_window(window);
    Send(accepted);
  }
  // Results for chunks, all in one JobResults message: a count of 1 each
  // (a serialized ChunkOutput), or `raw` bytes (a code job's). Chunks of
  // `size` items (Submit's job: 10): chunk i names [size i, size i + size).
  void Results(uint64_t job_id, std::vector<uint64_t> chunk_indices,
               const std::string& raw = "", uint64_t size = 10) {
    v1::Envelope results;
    std::vector<Payload> payloads;
    v1::ChunkOutput count;
    count.set_count(1);
    for (uint64_t index : chunk_indices) {
      v1::ChunkResult* result = results.mutable_job_results()->add_results();
      result->set_job_id(job_id);
      result->set_chunk_index(index);
      result->set_first_item(index * size);
      result->set_item_count(size);
      result->set_payload(static_cast<uint32_t>(payloads.size()));
      payloads.push_back(Payload::FromString(
          raw.empty() ? count.SerializeAsString() : raw));
    }
    Send(results, payloads);
  }
  void Result(uint64_t job_id, uint64_t chunk_index) {
    Results(job_id, {chunk_index});
  }
  // Protocol 3 results that name their items, all in one message: each a
  // count of 1, or with `error` set a failed result with no payload.
  struct Part {
    Part(uint64_t index, uint64_t first, uint64_t count, std::string why = "")
        : chunk_index(index), first_item(first), item_count(count),
          error(std::move(why)) {}
    uint64_t chunk_index;
    uint64_t first_item;
    uint64_t item_count;
    std::string error;
  };
  void Parts(uint64_t job_id, const std::vector<Part>& parts) {
    v1::Envelope results;
    std::vector<Payload> payloads;
    v1::ChunkOutput count;
    count.set_count(1);
    for (const Part& part : parts) {
      v1::ChunkResult* result = results.mutable_job_results()->add_results();
      result->set_job_id(job_id);
      result->set_chunk_index(part.chunk_index);
      result->set_first_item(part.first_item);
      result->set_item_count(part.item_count);
      if (!part.error.empty()) {
        result->mutable_error()->set_message(part.error);
        continue;
      }
      result->set_payload(static_cast<uint32_t>(payloads.size()));
      payloads.push_back(Payload::FromString(count.SerializeAsString()));
    }
    Send(results, payloads);
  }
  void Finish(uint64_t job_id) {
    v1::Envelope finished;
    finished.mutable_job_finished()->set_job_id(job_id);
    Send(finished);
  }

 private:
  zmq::context_t context_;
  zmq::socket_t router_;
  std::string endpoint_;
  std::string peer_;
  std::vector<Payload> payloads_;
};

struct Connected {
  ScriptedBroker broker;
  std::unique_ptr<zmq::context_t> context = std::make_unique<zmq::context_t>();
  std::unique_ptr<BrokerSession> session;
};

// Connects a session and answers its Hello.
void Connect(Connected& c, uint32_t interval_ms = 1000, uint32_t timeout_ms = 5000,
             int64_t resume_timeout_ms = 600'000) {
  auto opened = std::async(std::launch::async, [&] {
    return BrokerSession::Open(*c.context, {{c.broker.endpoint(), std::nullopt}},
                               5000, "test", LivenessOptions(),
                               resume_timeout_ms);
  });
  v1::Envelope hello = c.broker.Receive();
  ASSERT_TRUE(hello.has_hello());
  EXPECT_EQ(hello.hello().role(), v1::ROLE_CLIENT);
  EXPECT_EQ(hello.hello().protocol_version(), kProtocolVersion);
  c.broker.Welcome(interval_ms, timeout_ms);
  auto session = opened.get();
  ASSERT_TRUE(session.ok()) << session.status();
  c.session = *std::move(session);
}

// Submits 0..99 in chunks of 10 with `window`; the broker accepts as job 7
// (with `sized` false, as a broker sizing chunks itself: size and count 0).
std::shared_ptr<JobState> Submit(Connected& c, uint32_t window,
                                 bool sized = true) {
  auto job = std::make_shared<JobState>();
  job->range_lo = 0;
  job->range_last_index = 99;
  job->window = window;
  v1::SubmitJob submit;
  submit.set_task("primes");
  submit.mutable_range()->set_first(0);
  submit.mutable_range()->set_last(99);
  auto submitted = std::async(std::launch::async, [&] {
    return c.session->Submit(submit, {}, job);
  });
  v1::Envelope sent = c.broker.Receive();
  EXPECT_TRUE(sent.has_submit_job());
  EXPECT_EQ(sent.submit_job().result_window(), window);
  c.broker.Accept(sent.submit_job().request_id(), 7, sized ? 10 : 0,
                  sized ? 10 : 0, window);
  absl::Status status = submitted.get();
  EXPECT_TRUE(status.ok()) << status;
  return status.ok() ? job : nullptr;
}

// A streamed code job with `window`, the first `first` chunks (encoded items
// "c0", "c1", ... of 3 items each) sent with the submit; accepted as job 9.
std::shared_ptr<JobState> SubmitStreamed(Connected& c, uint32_t window,
                                         int first, v1::Envelope* sent_submit) {
  auto job = std::make_shared<JobState>();
  job->is_code = true;
  job->streamed = true;
  job->window = window;
  for (int i = 0; i < first; ++i) {
    job->pending.push_back(EncodedItems{absl::StrCat("c", i), 3});
  }
  v1::SubmitJob submit;
  submit.mutable_code()->set_runtime("python");
  submit.mutable_stream()->set_encoding(v1::ITEM_ENCODING_PICKLE);
  auto submitted = std::async(std::launch::async, [&] {
    return c.session->Submit(submit, {}, job);
  });
  *sent_submit = c.broker.Receive();
  EXPECT_TRUE(sent_submit->has_submit_job());
  c.broker.Accept(sent_submit->submit_job().request_id(), 9, 0, 0, window);
  absl::Status status = submitted.get();
  EXPECT_TRUE(status.ok()) << status;
  return status.ok() ? job : nullptr;
}

absl::StatusOr<std::optional<ChunkResult>> Next(BrokerSession& session,
                                                JobState& job) {
  absl::StatusOr<JobEvent> event =
      session.Poll(job, true, false, absl::InfiniteDuration());
  if (!event.ok()) return event.status();
  return std::move(event->result);
}

TEST(BrokerSessionTest, GrantsCreditInHalfWindowBatchesAsChunksAreConsumed) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 4);
  ASSERT_NE(job, nullptr);
  // One message, so all four are buffered before the first Next() returns
  // and no Next() has to wait (waiting may return credit early: when the
  // broker holds less than a batch).
  c.broker.Results(7, {0, 1, 2, 3});
  // Consuming 2 chunks returns 2 credits in one message, not two.
  for (uint64_t i = 0; i < 2; ++i) {
    auto chunk = Next(*c.session, *job);
    ASSERT_TRUE(chunk.ok() && chunk->has_value());
    EXPECT_EQ((*chunk)->chunk_index(), i);
  }
  v1::Envelope credit = c.broker.Receive();
  ASSERT_TRUE(credit.has_client_credit()) << BodyName(credit);
  EXPECT_EQ(credit.client_credit().job_id(), 7u);
  EXPECT_EQ(credit.client_credit().chunks(), 2u);
  // The same batch is acknowledged: items 0..19, one run.
  v1::Envelope ack = c.broker.Receive();
  ASSERT_TRUE(ack.has_ack_results()) << BodyName(ack);
  EXPECT_EQ(ack.ack_results().job_id(), 7u);
  ASSERT_EQ(ack.ack_results().items_size(), 1);
  EXPECT_EQ(ack.ack_results().items(0).first(), 0u);
  EXPECT_EQ(ack.ack_results().items(0).last(), 19u);
}

TEST(BrokerSessionTest, AManualAckJobAcknowledgesOnlyWhenAsked) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  auto job = std::make_shared<JobState>();
  job->range_last_index = 99;
  job->window = 2;
  job->manual_ack = true;
  v1::SubmitJob submit;
  submit.set_task("primes");
  submit.set_reduction(v1::REDUCTION_COUNT);
  submit.mutable_range()->set_first(0);
  submit.mutable_range()->set_last(99);
  auto submitted = std::async(std::launch::async, [&] {
    return c.session->Submit(submit, {}, job);
  });
  v1::Envelope sent = c.broker.Receive();
  ASSERT_TRUE(sent.has_submit_job());
  c.broker.Accept(sent.submit_job().request_id(), 7, 10, 10, 2);
  ASSERT_TRUE(submitted.get().ok());
  c.broker.Results(7, {0, 1});
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Next(*c.session, *job).ok());
  // Credit comes back; no ack, however long we wait (here: until 500 ms
  // pass with nothing sent, beyond the 200 ms batch timer).
  while (std::optional<v1::Envelope> sent =
             c.broker.ReceiveWithin(std::chrono::milliseconds(500))) {
    ASSERT_TRUE(sent->has_client_credit()) << BodyName(*sent);
  }
  c.session->Acknowledge(*job);
  v1::Envelope ack = c.broker.Receive();
  ASSERT_TRUE(ack.has_ack_results()) << BodyName(ack);
  ASSERT_EQ(ack.ack_results().items_size(), 1);
  EXPECT_EQ(ack.ack_results().items(0).last(), 19u);
  EXPECT_EQ(ack.ack_results().count(), 2u);  // each chunk counted 1
}

TEST(BrokerSessionTest, FailedJobReturnsItsErrorAfterTheChunksReceived) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 8);
  ASSERT_NE(job, nullptr);
  c.broker.Results(7, {1, 0});
  v1::Envelope finished;
  finished.mutable_job_finished()->set_job_id(7);
  finished.mutable_job_finished()->set_code(
      static_cast<int32_t>(absl::StatusCode::kAborted));
  finished.mutable_job_finished()->set_message("chunk 2 failed 4 times");
  c.broker.Send(finished);
  for (uint64_t i = 0; i < 2; ++i) {
    auto chunk = Next(*c.session, *job);
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    ASSERT_TRUE(chunk->has_value());
    EXPECT_EQ((*chunk)->chunk_index(), i);
  }
  auto failed = Next(*c.session, *job);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(failed.status().message(), HasSubstr("chunk 2 failed"));
}

TEST(BrokerSessionTest, MalformedChunkFailsTheJobAndCancelsIt) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 8);
  ASSERT_NE(job, nullptr);
  c.broker.Result(7, 42);  // items 420..429: the job has 100
  auto failed = Next(*c.session, *job);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  v1::Envelope cancel = c.broker.Receive();
  ASSERT_TRUE(cancel.has_cancel_job()) << BodyName(cancel);
  EXPECT_EQ(cancel.cancel_job().job_id(), 7u);
}

TEST(BrokerSessionTest, HeartbeatsWhileTheUserIsIdleAndDetectsASilentBroker) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c, /*interval_ms=*/50, /*timeout_ms=*/400,
                                  /*resume_timeout_ms=*/300));
  std::shared_ptr<JobState> job = Submit(c, 4);
  ASSERT_NE(job, nullptr);
  // Nobody calls Next: the I/O thread still heartbeats on its own.
  v1::Envelope heartbeat = c.broker.Receive(/*skip_heartbeats=*/false);
  EXPECT_TRUE(heartbeat.has_heartbeat()) << BodyName(heartbeat);
  // Then the broker stays silent and does not welcome us again within the
  // resume timeout: the job fails, naming the broker.
  auto lost = Next(*c.session, *job);
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(lost.status().message(), HasSubstr("lost contact with broker at"));
  EXPECT_THAT(lost.status().message(), HasSubstr(c.broker.endpoint()));
}

TEST(BrokerSessionTest, StreamedInputGoesOutUnderTheWindow) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  v1::Envelope submit;
  // Window 2, three chunks ready: two travel with the submit.
  std::shared_ptr<JobState> job = SubmitStreamed(c, 2, 3, &submit);
  ASSERT_NE(job, nullptr);
  ASSERT_EQ(submit.submit_job().stream().chunks_size(), 2);
  EXPECT_FALSE(submit.submit_job().stream().complete());
  EXPECT_EQ(submit.submit_job().stream().chunks(1).item_count(), 3u);
  EXPECT_EQ(c.broker.payloads()
                .at(submit.submit_job().stream().chunks(1).payload())
                .ToString(),
            "c1");
  EXPECT_EQ(c.session->InputRoom(*job), 0u);
  // A result makes room: the third ready chunk goes out on its own.
  c.broker.Results(9, {0}, "r0", 3);
  auto event = c.session->Poll(*job, true, true, absl::Seconds(10));
  ASSERT_TRUE(event.ok()) << event.status();
  ASSERT_EQ(event->kind, JobEvent::Kind::kResult);
  EXPECT_EQ(event->result->bytes(), "r0");
  EXPECT_EQ(event->result->size(), 3u);
  v1::Envelope append = c.broker.ReceiveBody(v1::Envelope::kAppendInput);
  ASSERT_TRUE(append.has_append_input()) << BodyName(append);
  ASSERT_EQ(append.append_input().chunks_size(), 1);
  EXPECT_EQ(c.broker.payloads().at(0).ToString(), "c2");
  EXPECT_EQ(c.session->InputRoom(*job), 0u);
  // More room: the caller appends two and ends the input; they share one
  // message.
  c.broker.Results(9, {1, 2}, "r", 3);
  event = c.session->Poll(*job, true, true, absl::Seconds(10));
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->kind, JobEvent::Kind::kResult);
  EXPECT_EQ(event->result->first_item(), 3u);
  // Room is counted against results received, read or not: 3 appended, 3
  // received, window 2.
  EXPECT_EQ(c.session->InputRoom(*job), 2u);
  ASSERT_TRUE(c.session->Append(*job, EncodedItems{"c3", 1}).ok());
  ASSERT_TRUE(c.session->Append(*job, EncodedItems{"c4", 1}).ok());
  EXPECT_EQ(c.session->Append(*job, EncodedItems{"c5", 1}).code(),
            absl::StatusCode::kFailedPrecondition);  // no room left
  ASSERT_TRUE(c.session->EndInput(*job).ok());
  // Queued appends go out merged when they can; the end rides on the last.
  int chunks = 0;
  for (bool complete = false; !complete;) {
    append = c.broker.ReceiveBody(v1::Envelope::kAppendInput);
    ASSERT_TRUE(append.has_append_input()) << BodyName(append);
    chunks += append.append_input().chunks_size();
    complete = append.append_input().complete();
  }
  EXPECT_EQ(chunks, 2);
  // Numbers belong to task jobs, not code jobs.
  EXPECT_EQ(c.session->Append(*job, std::vector<uint64_t>{1}).code(),
            absl::StatusCode::kFailedPrecondition);  // input ended
}

TEST(BrokerSessionTest, AUserCodeErrorCarriesItsDetails) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  v1::Envelope submit;
  std::shared_ptr<JobState> job = SubmitStreamed(c, 4, 2, &submit);
  ASSERT_NE(job, nullptr);
  v1::Envelope finished;
  finished.mutable_job_finished()->set_job_id(9);
  finished.mutable_job_finished()->set_code(2);
  finished.mutable_job_finished()->set_message("ValueError: bad");
  finished.mutable_job_finished()->set_user_code_error(true);
  finished.mutable_job_finished()->set_chunk_index(1);
  finished.mutable_job_finished()->set_details_payload(0);
  c.broker.Send(finished, {Payload::FromString("details")});
  auto failed = Next(*c.session, *job);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(failed.status().message(), HasSubstr("ValueError: bad"));
  std::optional<UserCodeError> error = c.session->user_code_error(*job);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->chunk_index, 1u);
  EXPECT_EQ(error->first_item, 3u);
  EXPECT_EQ(error->details, "details");
}

// Reads the job to its end in input order: each result's (first item,
// size, failed), and the final status.
struct ReadAll {
  std::vector<std::tuple<uint64_t, uint64_t, bool>> results;
  absl::Status status;
};
ReadAll ReadToEnd(BrokerSession& session, JobState& job) {
  ReadAll all;
  while (true) {
    auto chunk = Next(session, job);
    if (!chunk.ok()) {
      all.status = chunk.status();
      return all;
    }
    if (!chunk->has_value()) return all;
    all.results.emplace_back((*chunk)->first_item(), (*chunk)->size(),
                             (*chunk)->failed());
  }
}

TEST(BrokerSessionTest, OrdersPartsOfSplitChunksByTheirFirstItem) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 64, /*sized=*/false);
  ASSERT_NE(job, nullptr);
  // Chunks of varying size; chunk 1 (items 30..59) came back in 3 parts.
  c.broker.Parts(7, {{2, 60, 40}, {1, 50, 10}, {1, 30, 5}, {0, 0, 30},
                     {1, 35, 15}});
  c.broker.Finish(7);
  ReadAll all = ReadToEnd(*c.session, *job);
  ASSERT_TRUE(all.status.ok()) << all.status;
  using R = std::tuple<uint64_t, uint64_t, bool>;
  EXPECT_EQ(all.results, (std::vector<R>{R{0, 30, false}, R{30, 5, false},
                                         R{35, 15, false}, R{50, 10, false},
                                         R{60, 40, false}}));
  JobStats stats = c.session->Stats(*job);
  EXPECT_EQ(stats.chunks, 5u);
  EXPECT_EQ(stats.items, 100u);
  EXPECT_EQ(stats.duplicates, 0u);
}

TEST(BrokerSessionTest, CountsAndDropsResultsForItemsAlreadyReceived) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 64, /*sized=*/false);
  ASSERT_NE(job, nullptr);
  // The same chunk twice, and a part overlapping it: two duplicates.
  c.broker.Parts(7, {{0, 0, 50}, {0, 0, 50}, {0, 40, 20}, {1, 50, 50}});
  c.broker.Finish(7);
  ReadAll all = ReadToEnd(*c.session, *job);
  ASSERT_TRUE(all.status.ok()) << all.status;
  ASSERT_EQ(all.results.size(), 2u);
  JobStats stats = c.session->Stats(*job);
  EXPECT_EQ(stats.chunks, 2u);
  EXPECT_EQ(stats.items, 100u);
  EXPECT_EQ(stats.duplicates, 2u);
}

TEST(BrokerSessionTest, FinishedWithItemsMissingIsAnErrorNotSuccess) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 64, /*sized=*/false);
  ASSERT_NE(job, nullptr);
  c.broker.Parts(7, {{0, 0, 40}, {2, 60, 40}});  // 40..59 never come
  c.broker.Finish(7);
  ReadAll all = ReadToEnd(*c.session, *job);
  EXPECT_EQ(all.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(all.status.message(), HasSubstr("cover 80 of 100 items"));
  EXPECT_THAT(all.status.message(), HasSubstr("first missing is item 40"));
  EXPECT_EQ(all.results.size(), 1u);  // 60.. is never output out of order
}

TEST(BrokerSessionTest, ResultsBeyondTheInputFailTheJob) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 64, /*sized=*/false);
  ASSERT_NE(job, nullptr);
  c.broker.Parts(7, {{9, 90, 11}});
  ReadAll all = ReadToEnd(*c.session, *job);
  EXPECT_EQ(all.status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(all.status.message(), HasSubstr("beyond the job's 100 items"));
}

TEST(BrokerSessionTest, FailedItemsArriveAsFailedResultsInOrder) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  std::shared_ptr<JobState> job = Submit(c, 64, /*sized=*/false);
  ASSERT_NE(job, nullptr);
  c.broker.Parts(7, {{0, 0, 77}, {0, 78, 22}, {0, 77, 1, "killed by SIGABRT"}});
  c.broker.Finish(7);
  ReadAll all = ReadToEnd(*c.session, *job);
  ASSERT_TRUE(all.status.ok()) << all.status;
  using R = std::tuple<uint64_t, uint64_t, bool>;
  EXPECT_EQ(all.results, (std::vector<R>{R{0, 77, false}, R{77, 1, true},
                                         R{78, 22, false}}));
  EXPECT_EQ(c.session->Stats(*job).failed_items, 1u);
}

TEST(BrokerSessionTest, StreamedPartsNameTheirNumbers) {
  Connected c;
  ASSERT_NO_FATAL_FAILURE(Connect(c));
  auto job = std::make_shared<JobState>();
  job->streamed = true;
  job->window = 4;
  job->pending.push_back(std::vector<uint64_t>{10, 11, 12, 13});
  job->pending.push_back(std::vector<uint64_t>{20, 21});
  job->end_after_pending = true;
  v1::SubmitJob submit;
  submit.set_task("primes");
  auto submitted = std::async(std::launch::async, [&] {
    return c.session->Submit(submit, {}, job);
  });
  v1::Envelope sent = c.broker.Receive();
  ASSERT_TRUE(sent.has_submit_job());
  EXPECT_TRUE(sent.submit_job().stream().complete());
  c.broker.Accept(sent.submit_job().request_id(), 9, 0, 0, 4);
  ASSERT_TRUE(submitted.get().ok());
  // Chunk 0 split in two; chunk 1 whole.
  c.broker.Parts(9, {{0, 2, 2}, {1, 4, 2}, {0, 0, 2}});
  c.broker.Finish(9);
  std::vector<uint64_t> numbers;
  while (true) {
    auto chunk = Next(*c.session, *job);
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    if (!chunk->has_value()) break;
    for (uint64_t i = 0; i < (*chunk)->size(); ++i) {
      numbers.push_back((*chunk)->n(i));
    }
  }
  EXPECT_EQ(numbers, (std::vector<uint64_t>{10, 11, 12, 13, 20, 21}));
}

TEST(BrokerSessionTest, RefusalIsReturnedFromOpen) {
  ScriptedBroker broker;
  zmq::context_t context;
  auto opened = std::async(std::launch::async, [&] {
    return BrokerSession::Open(context, {{broker.endpoint(), std::nullopt}},
                               5000, "test");
  });
  ASSERT_TRUE(broker.Receive().has_hello());
  v1::Envelope error;
  *error.mutable_error() = ErrorFromStatus(
      absl::FailedPreconditionError("this broker speaks version 2"));
  broker.Send(error);
  auto session = opened.get();
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(session.status().message(), HasSubstr("speaks version 2"));
}

}  // namespace
}  // namespace tq::internal
