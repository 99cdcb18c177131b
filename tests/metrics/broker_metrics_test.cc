// BrokerMetrics: counters follow SchedulerStats by deltas and never go
// backwards, gauges are set, labelled reasons map from the right fields, and
// as the Scheduler's observer it records chunk run times and job durations.
#include "broker/broker_metrics.h"

#include <string>

#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"
#include "tests/broker/scheduler_test_util.h"
#include "tests/metrics/http_get.h"

namespace tq {
namespace {

using ::tq::testing::AssignmentsTo;
using ::tq::testing::SampleValue;
using ::tq::testing::SchedulerHarness;

class BrokerMetricsTest : public ::testing::Test {
 protected:
  double Value(const std::string& series) {
    const std::string text =
        prometheus::TextSerializer().Serialize(metrics_.registry()->Collect());
    std::optional<double> value = SampleValue(text, series);
    EXPECT_TRUE(value.has_value()) << series << " missing from\n" << text;
    return value.value_or(-1);
  }

  BrokerMetrics metrics_;
};

TEST_F(BrokerMetricsTest, CountersAdvanceByTheGrowthOfTheirStatistic) {
  SchedulerStats stats;
  stats.jobs_submitted = 3;
  stats.items_completed = 1000;
  metrics_.Update(stats);
  EXPECT_EQ(Value("tq_broker_jobs_submitted_total"), 3);
  EXPECT_EQ(Value("tq_broker_items_completed_total"), 1000);
  stats.jobs_submitted = 5;
  metrics_.Update(stats);
  metrics_.Update(stats);  // no growth, no change
  EXPECT_EQ(Value("tq_broker_jobs_submitted_total"), 5);
  EXPECT_EQ(Value("tq_broker_items_completed_total"), 1000);
}

TEST_F(BrokerMetricsTest, CountersNeverGoBackwards) {
  SchedulerStats stats;
  stats.chunks_dispatched = 10;
  metrics_.Update(stats);
  stats.chunks_dispatched = 2;  // e.g. a fresh Scheduler
  metrics_.Update(stats);
  EXPECT_EQ(Value("tq_broker_chunks_dispatched_total"), 10);
  stats.chunks_dispatched = 5;  // growth after the drop still counts
  metrics_.Update(stats);
  EXPECT_EQ(Value("tq_broker_chunks_dispatched_total"), 13);
}

TEST_F(BrokerMetricsTest, GaugesAreSetNotAccumulated) {
  SchedulerStats stats;
  stats.jobs_active = 4;
  stats.chunks_queued = 100;
  stats.chunks_in_flight = 8;
  stats.connected_workers = 2;
  stats.worker_threads = 16;
  stats.connected_clients = 3;
  metrics_.Update(stats);
  stats.jobs_active = 1;
  stats.chunks_queued = 7;
  metrics_.Update(stats);
  EXPECT_EQ(Value("tq_broker_jobs_active"), 1);
  EXPECT_EQ(Value("tq_broker_chunks_queued"), 7);
  EXPECT_EQ(Value("tq_broker_chunks_in_flight"), 8);
  EXPECT_EQ(Value("tq_broker_workers"), 2);
  EXPECT_EQ(Value("tq_broker_worker_threads"), 16);
  EXPECT_EQ(Value("tq_broker_clients"), 3);
}

TEST_F(BrokerMetricsTest, LabelledCountersReadTheirOwnStatistic) {
  SchedulerStats stats;
  stats.jobs_completed = 1;
  stats.jobs_failed = 2;
  stats.jobs_cancelled = 3;
  stats.requeued_lease_expired = 4;
  stats.requeued_worker_lost = 5;
  stats.requeued_task_failed = 6;
  stats.requeued_drained = 7;
  stats.duplicates_dropped = 8;
  stats.reports_stale = 9;
  stats.rejected_malformed = 10;
  stats.rejected_bad_hello = 1;
  stats.rejected_no_hello = 11;
  stats.rejected_wrong_role = 12;
  stats.rejected_bad_version = 13;
  stats.rejected_not_owner = 4;
  stats.rejected_unauthorized = 10;
  metrics_.Update(stats);
  EXPECT_EQ(Value("tq_broker_jobs_finished_total{outcome=\"completed\"}"), 1);
  EXPECT_EQ(Value("tq_broker_jobs_finished_total{outcome=\"failed\"}"), 2);
  EXPECT_EQ(Value("tq_broker_jobs_finished_total{outcome=\"cancelled\"}"), 3);
  EXPECT_EQ(Value("tq_broker_chunks_requeued_total{reason=\"lease_expired\"}"), 4);
  EXPECT_EQ(Value("tq_broker_chunks_requeued_total{reason=\"worker_lost\"}"), 5);
  EXPECT_EQ(Value("tq_broker_chunks_requeued_total{reason=\"task_failed\"}"), 6);
  EXPECT_EQ(Value("tq_broker_chunks_requeued_total{reason=\"drained\"}"), 7);
  EXPECT_EQ(Value("tq_broker_chunk_reports_dropped_total{reason=\"duplicate\"}"), 8);
  EXPECT_EQ(Value("tq_broker_chunk_reports_dropped_total{reason=\"stale\"}"), 9);
  EXPECT_EQ(Value("tq_broker_messages_rejected_total{reason=\"malformed\"}"), 11);
  EXPECT_EQ(Value("tq_broker_messages_rejected_total{reason=\"no_hello\"}"), 11);
  EXPECT_EQ(Value("tq_broker_messages_rejected_total{reason=\"wrong_role\"}"), 12);
  EXPECT_EQ(Value("tq_broker_messages_rejected_total{reason=\"protocol_version\"}"), 13);
  EXPECT_EQ(Value("tq_broker_messages_rejected_total{reason=\"unauthorized\"}"), 14);
}

TEST_F(BrokerMetricsTest, RefusedConnectionsAreCountedByTheCapTheyHit) {
  EXPECT_EQ(Value(R"(tq_broker_connections_refused_total{reason="total_cap"})"),
            0);
  ConnectionRefusals refusals;
  refusals.total_cap = 2;
  refusals.per_address_cap = 5;
  metrics_.UpdateConnections(refusals);
  metrics_.UpdateConnections(refusals);  // no growth, no change
  refusals.per_address_cap = 7;
  metrics_.UpdateConnections(refusals);
  EXPECT_EQ(Value(R"(tq_broker_connections_refused_total{reason="total_cap"})"),
            2);
  EXPECT_EQ(
      Value(R"(tq_broker_connections_refused_total{reason="per_address_cap"})"),
      7);
}

TEST_F(BrokerMetricsTest, BytesAreCounted) {
  metrics_.AddReceivedBytes(100);
  metrics_.AddReceivedBytes(23);
  metrics_.AddSentBytes(7);
  EXPECT_EQ(Value("tq_broker_received_bytes_total"), 123);
  EXPECT_EQ(Value("tq_broker_sent_bytes_total"), 7);
}

// The Scheduler, driven with fake time, reports through the observer.
TEST_F(BrokerMetricsTest, ObservesChunkRunTimeAndJobDurationFromTheScheduler) {
  SchedulerHarness h;
  h.scheduler().set_observer(&metrics_);
  h.HelloClient("c1");
  h.Submit("c1", SchedulerHarness::RangeJob(1, 1, 1));
  auto assignments = AssignmentsTo(h.HelloWorker("w1", 1, 1), "w1");
  ASSERT_EQ(assignments.size(), 1u);
  h.AdvanceMs(2500);
  v1::Envelope env;
  v1::ChunkReport* report = env.mutable_chunk_reports()->add_reports();
  report->set_job_id(assignments[0].job_id());
  report->set_chunk_index(assignments[0].chunk_index());
  report->set_attempt(assignments[0].attempt());
  report->set_result_payload(0);
  report->set_run_micros(1500);
  // Completes and ends the job (window is open).
  h.Deliver("w1", env, {Payload::FromString("result")});
  metrics_.Update(h.scheduler().stats());

  EXPECT_EQ(Value("tq_broker_chunk_run_seconds_count"), 1);
  EXPECT_DOUBLE_EQ(Value("tq_broker_chunk_run_seconds_sum"), 0.0015);
  EXPECT_EQ(Value("tq_broker_job_duration_seconds_count"), 1);
  EXPECT_DOUBLE_EQ(Value("tq_broker_job_duration_seconds_sum"), 2.5);
  EXPECT_EQ(Value("tq_broker_jobs_finished_total{outcome=\"completed\"}"), 1);
  EXPECT_EQ(Value("tq_broker_items_completed_total"), 1);
  h.scheduler().set_observer(nullptr);
}

TEST_F(BrokerMetricsTest, ReportForAGoneJobIsStaleNotDuplicate) {
  SchedulerHarness h;
  h.HelloClient("c1");
  h.Submit("c1", SchedulerHarness::RangeJob(1, 1, 1));
  auto assignments = AssignmentsTo(h.HelloWorker("w1", 1, 1), "w1");
  ASSERT_EQ(assignments.size(), 1u);
  h.Report("w1", assignments[0]);  // the job completes
  h.Report("w1", assignments[0]);  // its job is gone now
  EXPECT_EQ(h.scheduler().stats().reports_stale, 1u);
  EXPECT_EQ(h.scheduler().stats().duplicates_dropped, 0u);
}

}  // namespace
}  // namespace tq

namespace tq {
namespace {

TEST_F(BrokerMetricsTest, APairsStateEpochAndFollowerAreGauges) {
  const std::string before =
      prometheus::TextSerializer().Serialize(metrics_.registry()->Collect());
  EXPECT_EQ(before.find("tq_broker_pair_state"), std::string::npos)
      << "a broker alone has no pair metrics";
  metrics_.SetPairState(v1::PAIR_STATE_PASSIVE, 1, false);
  EXPECT_EQ(Value("tq_broker_pair_state{state=\"passive\"}"), 1);
  metrics_.SetPairState(v1::PAIR_STATE_ACTIVE, 2, true);
  EXPECT_EQ(Value("tq_broker_pair_state{state=\"passive\"}"), 0);
  EXPECT_EQ(Value("tq_broker_pair_state{state=\"active\"}"), 1);
  EXPECT_EQ(Value("tq_broker_pair_epoch"), 2);
  EXPECT_EQ(Value("tq_broker_pair_followed"), 1);
}

}  // namespace
}  // namespace tq
