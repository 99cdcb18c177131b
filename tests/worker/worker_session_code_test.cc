// WorkerSession with payloads: chunk inputs and code blobs resolved from the
// messages that carried them, blobs kept across chunks, a chunk whose code is
// gone refused as FAILURE_CODE_MISSING, results and error details sent as
// payloads, revoked jobs handed to the loop.
#include <cstdint>
#include <string>
#include <vector>

#include "common/protocol.h"
#include "gtest/gtest.h"
#include "tests/worker/session_test_util.h"
#include "worker/code_cache.h"
#include "worker/worker_session.h"

namespace tq {
namespace {

constexpr int64_t kMs = 1000;

WorkerSessionOptions TestOptions() {
  WorkerSessionOptions options;
  options.threads = 1;
  options.prefetch = 3;
  options.name = "test-worker";
  return options;
}

v1::Assignment CodeAssignment(uint64_t chunk, const std::string& sha) {
  v1::Assignment a;
  a.set_job_id(5);
  a.set_chunk_index(chunk);
  a.set_attempt(1);
  a.mutable_code()->set_runtime("python");
  a.mutable_code()->set_function_sha256(sha);
  a.set_owner("session:x-1");
  a.mutable_input()->set_payload(0);
  a.mutable_input()->set_item_count(2);
  a.mutable_input()->set_encoding(v1::ITEM_ENCODING_PICKLE);
  return a;
}

class WorkerSessionCodeTest : public ::testing::Test {
 protected:
  WorkerSessionCodeTest() : session_(TestOptions(), Capabilities()) {
    session_.OnConnected(now_);
    v1::Envelope welcome;
    welcome.mutable_welcome()->set_protocol_version(kProtocolVersion);
    session_.OnMessage(welcome, now_);
    hello_ = Envelopes(session_.TakeOutgoing()).at(0);
  }
  static WorkerCapabilities Capabilities() {
    v1::Runtime python;
    python.set_name("python");
    python.set_version("3.11");
    return WorkerCapabilities{{"noop", "primes"}, {python}};
  }

  WorkerSession session_;
  v1::Envelope hello_;
  int64_t now_ = 1'000'000 * kMs;
};

TEST_F(WorkerSessionCodeTest, HelloSaysWhatTheWorkerRuns) {
  ASSERT_TRUE(hello_.has_hello());
  ASSERT_EQ(hello_.hello().tasks_size(), 2);
  EXPECT_EQ(hello_.hello().tasks(1), "primes");
  ASSERT_EQ(hello_.hello().runtimes_size(), 1);
  EXPECT_EQ(hello_.hello().runtimes(0).version(), "3.11");
}

TEST_F(WorkerSessionCodeTest, ResolvesInputsAndKeepsCodeForLaterChunks) {
  v1::Envelope first;
  *first.mutable_assignments()->add_assignments() = CodeAssignment(0, "F");
  v1::CodeBlob* blob = first.mutable_assignments()->add_code_blobs();
  blob->set_sha256("F");
  blob->set_payload(1);
  session_.OnMessage(first, {Payload::FromString("items0"), Payload::FromString("fn")},
                     now_);
  v1::Envelope second;
  *second.mutable_assignments()->add_assignments() = CodeAssignment(1, "F");
  session_.OnMessage(second, {Payload::FromString("items1")}, now_);
  std::vector<ChunkWork> work = session_.TakeChunksToStart();
  ASSERT_EQ(work.size(), 1u);  // one thread, one chunk at a time
  EXPECT_EQ(work[0].input.ToString(), "items0");
  EXPECT_EQ(work[0].function.ToString(), "fn");
  EXPECT_TRUE(work[0].initializer.empty());
  ChunkDone done;
  done.report.set_job_id(5);
  done.report.set_chunk_index(0);
  done.result = Payload::FromString("results0");
  session_.OnChunksFinished({done}, now_);
  std::vector<WorkerMessage> out = session_.TakeOutgoing();
  ASSERT_EQ(out.size(), 1u);
  const v1::ChunkReport& report = out[0].envelope.chunk_reports().reports(0);
  ASSERT_EQ(report.outcome_case(), v1::ChunkReport::kResultPayload);
  EXPECT_EQ(out[0].payloads.at(report.result_payload()).ToString(), "results0");
  work = session_.TakeChunksToStart();
  ASSERT_EQ(work.size(), 1u);
  EXPECT_EQ(work[0].input.ToString(), "items1");
  EXPECT_EQ(work[0].function.ToString(), "fn");
}

TEST_F(WorkerSessionCodeTest, RefusesAChunkWhoseCodeItDoesNotHold) {
  v1::Envelope message;
  *message.mutable_assignments()->add_assignments() = CodeAssignment(0, "G");
  session_.OnMessage(message, {Payload::FromString("items")}, now_);
  EXPECT_TRUE(session_.TakeChunksToStart().empty());
  std::vector<WorkerMessage> out = session_.TakeOutgoing();
  ASSERT_EQ(out.size(), 1u);
  const v1::ChunkReports& reports = out[0].envelope.chunk_reports();
  ASSERT_EQ(reports.reports_size(), 1);
  EXPECT_EQ(reports.reports(0).failure(), v1::FAILURE_CODE_MISSING);
  // Its credit comes straight back: it holds no slot.
  EXPECT_EQ(reports.credit(), 1u);
}

TEST_F(WorkerSessionCodeTest, SendsUserErrorDetailsAsAPayload) {
  v1::Envelope message;
  *message.mutable_assignments()->add_assignments() = CodeAssignment(0, "F");
  v1::CodeBlob* blob = message.mutable_assignments()->add_code_blobs();
  blob->set_sha256("F");
  blob->set_payload(1);
  session_.OnMessage(message, {Payload::FromString("items"), Payload::FromString("fn")},
                     now_);
  ASSERT_EQ(session_.TakeChunksToStart().size(), 1u);
  ChunkDone done;
  done.report.set_job_id(5);
  done.report.set_chunk_index(0);
  done.report.mutable_error()->set_message("ValueError: no");
  done.report.set_failure(v1::FAILURE_USER_CODE);
  done.details = Payload::FromString("details");
  session_.OnChunksFinished({done}, now_);
  std::vector<WorkerMessage> out = session_.TakeOutgoing();
  ASSERT_EQ(out.size(), 1u);
  const v1::ChunkReport& report = out[0].envelope.chunk_reports().reports(0);
  ASSERT_TRUE(report.has_details_payload());
  EXPECT_EQ(out[0].payloads.at(report.details_payload()).ToString(), "details");
}

TEST_F(WorkerSessionCodeTest, HandsRevokedJobsToTheLoop) {
  v1::Envelope revoke;
  revoke.mutable_revoke_job()->set_job_id(5);
  session_.OnMessage(revoke, now_);
  EXPECT_EQ(session_.TakeRevokedJobs(), std::vector<uint64_t>{5});
  EXPECT_TRUE(session_.TakeRevokedJobs().empty());
}

TEST(CodeCacheTest, EvictsTheLeastRecentlyUsedBeyondItsBound) {
  CodeCache cache(10);
  cache.Put("a", Payload::FromString("aaaa"));
  cache.Put("b", Payload::FromString("bbbb"));
  ASSERT_TRUE(cache.Get("a").has_value());  // a is now the most recent
  cache.Put("c", Payload::FromString("cccc"));
  EXPECT_TRUE(cache.Get("a").has_value());
  EXPECT_FALSE(cache.Get("b").has_value());
  EXPECT_TRUE(cache.Get("c").has_value());
  EXPECT_EQ(cache.bytes(), 8u);
  // One blob over the bound is kept anyway: the newest is never evicted.
  cache.Put("big", Payload::FromString(std::string(20, 'x')));
  EXPECT_TRUE(cache.Get("big").has_value());
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace tq
