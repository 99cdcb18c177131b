// The client library's public headers expose no internals: compiling them
// alone must not pull in ZeroMQ, protobuf or the broker, worker and session
// headers (the Python binding builds on these headers only).
#include "client/chunk_result.h"
#include "client/job.h"
#include "client/job_spec.h"
#include "client/options.h"
#include "client/pool.h"

#if defined(ZMQ_VERSION_MAJOR) || defined(CPPZMQ_VERSION)
#error "a public client header includes ZeroMQ"
#endif
#if defined(GOOGLE_PROTOBUF_VERSION) || defined(PROTOBUF_VERSION)
#error "a public client header includes protobuf"
#endif
#if defined(TQ_BROKER_BROKER_H_) || defined(TQ_WORKER_WORKER_H_) || \
    defined(TQ_CLIENT_BROKER_SESSION_H_) || defined(TQ_CLIENT_EMBEDDED_CLUSTER_H_)
#error "a public client header includes an internal one"
#endif

#include "gtest/gtest.h"

namespace tq {
namespace {

TEST(PublicApiTest, ConnectsAndMapsThroughThePublicHeadersAlone) {
  ClientOptions options;
  options.embedded_threads = 1;
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Connect(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_TRUE((*pool)->embedded());
  JobSpec spec;
  spec.task = "primes";
  spec.input = NumberRange{1, 100};
  spec.reduction = Reduction::kCount;
  absl::StatusOr<std::vector<ChunkResult>> chunks = (*pool)->Map(spec);
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  uint64_t primes = 0;
  for (const ChunkResult& chunk : *chunks) primes += chunk.count();
  EXPECT_EQ(primes, 25u);
  absl::StatusOr<std::string> status = (*pool)->StatusJson();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_NE(status->find("\"totals\""), std::string::npos) << *status;
}

}  // namespace
}  // namespace tq
