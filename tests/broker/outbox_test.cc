// Outbox: per-peer order is kept and batchable envelopes are merged.
#include "broker/outbox.h"

#include "gtest/gtest.h"

namespace tq {
namespace {

v1::Envelope OneAssignment(uint64_t chunk) {
  v1::Envelope env;
  env.mutable_assignments()->add_assignments()->set_chunk_index(chunk);
  return env;
}

v1::Envelope OneResult(uint64_t chunk) {
  v1::Envelope env;
  env.mutable_job_results()->add_results()->set_chunk_index(chunk);
  return env;
}

TEST(OutboxTest, MergesAssignmentsToOnePeerAcrossOtherPeers) {
  Outbox out;
  out.Add("w1", OneAssignment(0));
  out.Add("w2", OneAssignment(1));
  out.Add("w1", OneAssignment(2));
  out.Add("c1", OneResult(0));
  out.Add("c1", OneResult(1));
  std::vector<OutgoingMessage> sent = out.Take();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].peer, "w1");
  ASSERT_EQ(sent[0].envelope.assignments().assignments_size(), 2);
  EXPECT_EQ(sent[0].envelope.assignments().assignments(1).chunk_index(), 2u);
  EXPECT_EQ(sent[2].envelope.job_results().results_size(), 2);
  EXPECT_TRUE(out.empty());
}

TEST(OutboxTest, DoesNotMergeAcrossAnotherBodyToTheSamePeer) {
  Outbox out;
  out.Add("c1", OneResult(0));
  v1::Envelope finished;
  finished.mutable_job_finished()->set_job_id(1);
  out.Add("c1", finished);
  out.Add("c1", OneResult(1));
  std::vector<OutgoingMessage> sent = out.Take();
  ASSERT_EQ(sent.size(), 3u);  // JobFinished stays between the results
  EXPECT_TRUE(sent[1].envelope.has_job_finished());
}

TEST(OutboxTest, SplitsBatchesAtTheItemBound) {
  Outbox out;
  for (int i = 0; i < Outbox::kMaxBatchItems + 1; ++i) {
    out.Add("w1", OneAssignment(i));
  }
  std::vector<OutgoingMessage> sent = out.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].envelope.assignments().assignments_size(),
            Outbox::kMaxBatchItems);
}

}  // namespace
}  // namespace tq
