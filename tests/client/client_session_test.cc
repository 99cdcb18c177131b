// ClientSession, the client's sans-I/O protocol core, driven with fake time:
// the version check, liveness, reconnection with back-off, and what happens
// to requests across a lost connection (jobs, acks and attaches:
// client_session_resume_test.cc).
#include "client/client_session.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/protocol.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/client_session_fixture.h"

namespace tq::internal {
namespace {

using ::testing::HasSubstr;

TEST_F(ClientSessionTest, SaysHelloAsAClientAndConnectsOnWelcome) {
  ASSERT_EQ(Sent(), std::vector{v1::Envelope::kHello});
  const v1::Hello& hello = last_sent_.back().hello();
  EXPECT_EQ(hello.role(), v1::ROLE_CLIENT);
  EXPECT_EQ(hello.protocol_version(), kProtocolVersion);
  EXPECT_EQ(hello.name(), "test");
  EXPECT_FALSE(session_.TakeReconnect());  // the first socket is the caller's
  Deliver(Welcome());
  EXPECT_EQ(session_.state(), ClientSession::State::kConnected);
  EXPECT_EQ(session_.reconnects(), 0);
}

TEST_F(ClientSessionTest, AnotherProtocolVersionClosesTheSessionSayingBoth) {
  Sent();
  Deliver(Welcome(kProtocolVersion + 1));
  ASSERT_EQ(session_.state(), ClientSession::State::kClosed);
  EXPECT_EQ(session_.closed_status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(session_.closed_status().message(),
              HasSubstr(absl::StrCat("protocol version ", kProtocolVersion + 1,
                                     "; this client speaks ", kProtocolVersion)));
  // Closed for good: no reconnect, and requests fail at once.
  Advance(10'000);
  EXPECT_FALSE(session_.TakeReconnect());
  EXPECT_EQ(session_.RequestStatus(now_).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ClientSessionTest, NoFirstWelcomeWithinTheConnectTimeoutIsFinal) {
  Sent();
  Advance(1'999);
  EXPECT_EQ(session_.state(), ClientSession::State::kConnecting);
  Advance(1);
  ASSERT_EQ(session_.state(), ClientSession::State::kClosed);
  EXPECT_EQ(session_.closed_status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(session_.closed_status().message(),
              HasSubstr("no answer from broker at tcp://broker:5555"));
  EXPECT_FALSE(session_.TakeReconnect());
}

TEST_F(ClientSessionTest, ABusyRefusalOfTheFirstHelloIsRetryable) {
  Sent();
  v1::Envelope error;
  error.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kResourceExhausted));
  error.mutable_error()->set_message("too many clients");
  error.mutable_error()->set_retryable(true);
  Deliver(error);
  ASSERT_EQ(session_.state(), ClientSession::State::kClosed);
  EXPECT_TRUE(IsRetryable(session_.closed_status())) << session_.closed_status();
  EXPECT_THAT(session_.closed_status().message(), HasSubstr("refused us"));
}

TEST_F(ClientSessionTest, HeartbeatsWhenIdleAndKeepsABrokerThatTalks) {
  Connect();
  Advance(999);
  EXPECT_TRUE(Sent().empty());
  Advance(1);
  EXPECT_EQ(Sent(), std::vector{v1::Envelope::kHeartbeat});
  // The broker's heartbeats keep it alive however long we run.
  for (int i = 0; i < 10; ++i) {
    Advance(1'000);
    v1::Envelope heartbeat;
    heartbeat.mutable_heartbeat();
    Deliver(heartbeat);
  }
  EXPECT_EQ(session_.state(), ClientSession::State::kConnected);
}

TEST_F(ClientSessionTest, ASilentBrokerIsLostAndTheSessionReconnectsKeepingItsJobs) {
  Connect();
  std::shared_ptr<JobState> job = Submit();
  Accept(*job, 7);
  ASSERT_TRUE(job->answered);
  ASSERT_TRUE(job->submit_status.ok());
  std::shared_ptr<JobState> unanswered = Submit();
  absl::StatusOr<uint64_t> status_request = session_.RequestStatus(now_);
  ASSERT_TRUE(status_request.ok());
  Sent();

  Advance(2'999);
  EXPECT_EQ(session_.state(), ClientSession::State::kConnected);
  Advance(1);
  // Lost: the status request fails (tq-client exits 3); the jobs wait to be
  // attached again (client_session_resume_test.cc); a new socket says Hello.
  EXPECT_FALSE(job->finished);
  EXPECT_TRUE(job->detached);
  EXPECT_FALSE(unanswered->answered);
  std::optional<absl::StatusOr<v1::StatusReply>> reply =
      session_.TakeStatusReply(*status_request);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(reply->status().message(), HasSubstr("silent for 3s"));
  EXPECT_TRUE(session_.TakeReconnect());
  EXPECT_EQ(Sent(), std::vector{v1::Envelope::kHello});
  EXPECT_EQ(session_.state(), ClientSession::State::kConnecting);
  // The job's handle waits (no event) and sends nothing meanwhile: no credit
  // for a connection that is gone.
  EXPECT_FALSE(session_.NextEvent(*job, true, false, now_).has_value());
  EXPECT_TRUE(Sent().empty());
}

TEST_F(ClientSessionTest, ReconnectsWithDoublingBackOffUntilWelcomed) {
  Connect();
  Sent();
  LoseBroker();
  ASSERT_TRUE(session_.TakeReconnect());
  Sent();
  // No Welcome: new attempts after 100, 200, 400, 400 ms (the maximum).
  for (int64_t wait : {100, 200, 400, 400}) {
    Advance(wait - 1);
    EXPECT_FALSE(session_.TakeReconnect()) << "before " << wait << " ms";
    Advance(1);
    EXPECT_TRUE(session_.TakeReconnect()) << "after " << wait << " ms";
    EXPECT_EQ(Sent(), std::vector{v1::Envelope::kHello});
  }
  Deliver(Welcome());
  EXPECT_EQ(session_.state(), ClientSession::State::kConnected);
  EXPECT_EQ(session_.reconnects(), 1);
  // The back-off starts over: a second loss retries after 100 ms again.
  LoseBroker();
  ASSERT_TRUE(session_.TakeReconnect());
  Advance(100);
  EXPECT_TRUE(session_.TakeReconnect());
}

TEST_F(ClientSessionTest, RequestsMadeWhileReconnectingGoOutAfterTheWelcome) {
  Connect();
  LoseBroker();
  session_.TakeReconnect();
  Sent();
  std::shared_ptr<JobState> job = Submit();
  ASSERT_TRUE(session_.RequestStatus(now_).ok());
  EXPECT_TRUE(Sent().empty());  // held: no broker to take them yet
  Advance(50);
  Deliver(Welcome());
  EXPECT_EQ(Sent(), (std::vector{v1::Envelope::kSubmitJob,
                                 v1::Envelope::kStatusRequest}));
  Accept(*job, 3);
  EXPECT_TRUE(job->answered);
  EXPECT_TRUE(job->submit_status.ok()) << job->submit_status;
}

TEST_F(ClientSessionTest, RequestsFailWhenNoBrokerWelcomesWithinTheConnectTimeout) {
  Connect();
  LoseBroker();
  std::shared_ptr<JobState> job = Submit();
  Advance(1'999);
  EXPECT_FALSE(job->answered);
  Advance(1);
  ASSERT_TRUE(job->answered);
  EXPECT_EQ(job->submit_status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(job->submit_status.message(),
              HasSubstr("not connected to broker at tcp://broker:5555"));
  // The session keeps trying for later requests.
  EXPECT_EQ(session_.state(), ClientSession::State::kConnecting);
  Deliver(Welcome());
  EXPECT_EQ(session_.state(), ClientSession::State::kConnected);
}

TEST_F(ClientSessionTest, GoodbyeAndASessionErrorMakeANewSession) {
  Connect();
  v1::Envelope goodbye;
  goodbye.mutable_goodbye();
  Deliver(goodbye);
  EXPECT_TRUE(session_.TakeReconnect());
  Deliver(Welcome());
  ASSERT_EQ(session_.state(), ClientSession::State::kConnected);
  v1::Envelope forgotten;
  forgotten.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kFailedPrecondition));
  forgotten.mutable_error()->set_message("no hello from this peer");
  Deliver(forgotten);
  EXPECT_TRUE(session_.TakeReconnect());
  EXPECT_EQ(session_.state(), ClientSession::State::kConnecting);
}

TEST_F(ClientSessionTest, LateMessagesOfTheOldConnectionAreIgnored) {
  Connect();
  std::shared_ptr<JobState> job = Submit();
  Accept(*job, 7);
  LoseBroker();
  ASSERT_TRUE(job->detached);
  // A result for the lost job arrives while reconnecting: not a Welcome,
  // so nothing changes.
  v1::Envelope results;
  v1::ChunkResult* result = results.mutable_job_results()->add_results();
  result->set_job_id(7);
  result->set_first_item(0);
  result->set_item_count(10);
  Deliver(results);
  EXPECT_EQ(job->received, 0u);
  EXPECT_EQ(session_.state(), ClientSession::State::kConnecting);
}

TEST_F(ClientSessionTest, CloseSaysGoodbyeAndFailsWhatWaits) {
  Connect();
  std::shared_ptr<JobState> job = Submit();
  Sent();
  session_.Close(now_);
  EXPECT_EQ(Sent(), std::vector{v1::Envelope::kGoodbye});
  EXPECT_EQ(session_.state(), ClientSession::State::kClosed);
  EXPECT_TRUE(job->answered);
  EXPECT_EQ(job->submit_status.code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace tq::internal

namespace tq::internal {
namespace {

v1::Envelope StandbyRefusal() {
  v1::Envelope error;
  error.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kUnavailable));
  error.mutable_error()->set_message("this broker is the standby of a pair");
  error.mutable_error()->set_retryable(true);
  error.mutable_error()->set_standby(true);
  return error;
}

// A standby pair: the first broker of the list refuses as a standby; the
// session asks the next one (a reconnect) shortly after, and goes on doing
// so until the connect timeout.
TEST_F(ClientSessionTest, AStandbysRefusalMovesToTheNextBrokerOfAList) {
  ClientSessionOptions options = Options();
  options.endpoint = "tcp://a:5555,tcp://b:5555";
  options.endpoint_count = 2;
  int64_t now = 0;
  ClientSession session(options, now);
  std::vector<Outgoing> hello = session.TakeOutgoing();
  ASSERT_EQ(hello.size(), 1u);
  EXPECT_FALSE(hello[0].envelope.hello().failed_over()) << "the first";
  session.OnMessage(StandbyRefusal(), {}, now);
  session.OnTick(now);
  EXPECT_EQ(session.state(), ClientSession::State::kConnecting);
  EXPECT_FALSE(session.TakeReconnect()) << "not at once";
  now += 100 * kMs;
  session.OnTick(now);
  EXPECT_TRUE(session.TakeReconnect());
  hello = session.TakeOutgoing();  // Hello to the next
  ASSERT_EQ(hello.size(), 1u);
  // A standby sent us on: the next broker may not take over for us.
  EXPECT_FALSE(hello[0].envelope.hello().failed_over());
  // The next is silent: after its turn (at least a second), the first again.
  now += 999 * kMs;
  session.OnTick(now);
  EXPECT_FALSE(session.TakeReconnect());
  now += 1 * kMs;
  session.OnTick(now);
  EXPECT_TRUE(session.TakeReconnect());
  hello = session.TakeOutgoing();
  ASSERT_EQ(hello.size(), 1u);
  // The active did not answer: the standby may take over for us.
  EXPECT_TRUE(hello[0].envelope.hello().failed_over());
  // Nobody welcomes within the connect timeout (2 s): closed, naming both.
  now = 2'000 * kMs;
  session.OnTick(now);
  ASSERT_EQ(session.state(), ClientSession::State::kClosed);
  EXPECT_THAT(session.closed_status().message(),
              HasSubstr("no answer from broker at tcp://a:5555,tcp://b:5555"));
}

TEST_F(ClientSessionTest, AStandbyRefusalIsNotFinalEvenForOneBroker) {
  Sent();
  Deliver(StandbyRefusal());
  EXPECT_EQ(session_.state(), ClientSession::State::kConnecting);
  Advance(100);
  EXPECT_TRUE(session_.TakeReconnect()) << "the same broker, asked again";
  Deliver(Welcome());
  EXPECT_EQ(session_.state(), ClientSession::State::kConnected);
}

// Credit the session returned, summed over the ClientCredit messages sent
// since the last call.
uint64_t CreditSent(std::vector<Outgoing> messages) {
  uint64_t chunks = 0;
  for (const Outgoing& m : messages) chunks += m.envelope.client_credit().chunks();
  return chunks;
}

TEST_F(ClientSessionTest, ReadingFasterThanResultsComeKeepsCreditGrantsBatched) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  std::shared_ptr<JobState> job = Submit(/*window=*/8);  // batch: 4
  Accept(*job, 7);
  (void)Sent();
  // Each result is read at once and the reader then waits for the next:
  // the broker still holds at least a batch of credit, so nothing is sent
  // until a whole batch was consumed.
  for (uint64_t chunk = 0; chunk < 3; ++chunk) {
    Result(7, chunk, chunk * 10, 10);
    ASSERT_TRUE(Read(*job).has_value());
    EXPECT_FALSE(Read(*job).has_value());  // about to wait
    EXPECT_EQ(CreditSent(SentOf(v1::Envelope::kClientCredit)), 0u) << chunk;
  }
  Result(7, 3, 30, 10);
  ASSERT_TRUE(Read(*job).has_value());
  EXPECT_EQ(CreditSent(SentOf(v1::Envelope::kClientCredit)), 4u);
}

TEST_F(ClientSessionTest, WaitingReturnsConsumedCreditWhenTheBrokerRunsLow) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  std::shared_ptr<JobState> job = Submit(/*window=*/8);  // batch: 4
  Accept(*job, 7);
  (void)Sent();
  auto next_in_order = [&] {
    return session_.NextEvent(*job, /*ordered=*/true, /*want_room=*/false, now_);
  };
  for (uint64_t chunk = 0; chunk < 2; ++chunk) {
    Result(7, chunk, chunk * 10, 10);
    ASSERT_TRUE(next_in_order().has_value());
  }
  // Chunk 2 is late; 3..6 wait in the reorder buffer. The broker holds
  // 8 - 6 = 2 credits, less than a batch: waiting for chunk 2 returns the
  // 2 consumed at once rather than at the batch.
  for (uint64_t chunk = 3; chunk < 7; ++chunk) Result(7, chunk, chunk * 10, 10);
  EXPECT_FALSE(next_in_order().has_value());
  EXPECT_EQ(CreditSent(SentOf(v1::Envelope::kClientCredit)), 2u);
}

}  // namespace
}  // namespace tq::internal
