// The README's library example, verbatim in CountPrimes below, so the
// documentation cannot drift from the API: it must compile and find the
// 9592 primes up to 100000.
#include <cstdio>

#include "client/pool.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

absl::Status CountPrimes(uint64_t* found) {
  tq::ClientOptions options;                 // broker "" = embedded cluster
  auto pool = tq::Pool::Connect(options);    // StatusOr<std::unique_ptr<Pool>>
  if (!pool.ok()) return pool.status();      // kUnavailable names the address

  tq::JobSpec spec;
  spec.task = "primes";
  spec.input = tq::NumberRange{1, 100000};   // or a std::vector<uint64_t>
  auto job = (*pool)->Submit(spec);          // bad input / unknown task: the Status
  if (!job.ok()) return job.status();
  for (;;) {
    auto chunk = (*job)->Next();             // input order; NextCompleted(): as completed
    if (!chunk.ok()) return chunk.status();  // job failed, cancelled or broker lost
    if (!chunk->has_value()) break;          // done, every chunk delivered
    for (uint64_t i = 0; i < (*chunk)->size(); ++i)
      if ((*chunk)->bit(i)) ++*found;        // README: printf("%lu\n", (*chunk)->n(i));
  }
  return absl::OkStatus();
}

TEST(ReadmeExampleTest, FindsThePrimesUpTo100000) {
  uint64_t found = 0;
  ASSERT_TRUE(CountPrimes(&found).ok());
  EXPECT_EQ(found, 9592u);
}

}  // namespace
}  // namespace tq
