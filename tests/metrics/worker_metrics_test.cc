// WorkerMetrics: chunk outcomes and run times, state gauges, sessions.
#include "worker/worker_metrics.h"

#include <string>

#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"
#include "tests/metrics/http_get.h"

namespace tq {
namespace {

using ::tq::testing::SampleValue;

class WorkerMetricsTest : public ::testing::Test {
 protected:
  double Value(const std::string& series) {
    const std::string text =
        prometheus::TextSerializer().Serialize(metrics_.registry()->Collect());
    std::optional<double> value = SampleValue(text, series);
    EXPECT_TRUE(value.has_value()) << series << " missing from\n" << text;
    return value.value_or(-1);
  }

  WorkerMetrics metrics_{4};
};

TEST_F(WorkerMetricsTest, ThreadsIsThePoolSize) {
  EXPECT_EQ(Value("tq_worker_threads"), 4);
}

TEST_F(WorkerMetricsTest, ChunksAreCountedByOutcomeWithTheirRunTime) {
  v1::ChunkReport ok;  // no error: a result
  ok.set_run_micros(2000);
  v1::ChunkReport failed;
  failed.mutable_error()->set_message("boom");
  failed.set_run_micros(500);
  metrics_.OnChunkFinished(ok);
  metrics_.OnChunkFinished(ok);
  metrics_.OnChunkFinished(failed);
  EXPECT_EQ(Value("tq_worker_chunks_total{outcome=\"ok\"}"), 2);
  EXPECT_EQ(Value("tq_worker_chunks_total{outcome=\"error\"}"), 1);
  EXPECT_EQ(Value("tq_worker_chunk_run_seconds_count"), 3);
  EXPECT_DOUBLE_EQ(Value("tq_worker_chunk_run_seconds_sum"), 0.0045);
}

TEST_F(WorkerMetricsTest, StateGaugesAreSet) {
  metrics_.SetState(3, 10, true);
  EXPECT_EQ(Value("tq_worker_busy_threads"), 3);
  EXPECT_EQ(Value("tq_worker_capacity"), 10);
  EXPECT_EQ(Value("tq_worker_connected"), 1);
  metrics_.SetState(0, 6, false);
  EXPECT_EQ(Value("tq_worker_busy_threads"), 0);
  EXPECT_EQ(Value("tq_worker_capacity"), 6);
  EXPECT_EQ(Value("tq_worker_connected"), 0);
}

TEST_F(WorkerMetricsTest, SessionsAndBytesAreCounted) {
  metrics_.OnSessionStarted();
  metrics_.OnSessionStarted();
  metrics_.AddReceivedBytes(40);
  metrics_.AddSentBytes(2);
  metrics_.AddSentBytes(3);
  EXPECT_EQ(Value("tq_worker_sessions_total"), 2);
  EXPECT_EQ(Value("tq_worker_received_bytes_total"), 40);
  EXPECT_EQ(Value("tq_worker_sent_bytes_total"), 5);
}

}  // namespace
}  // namespace tq
