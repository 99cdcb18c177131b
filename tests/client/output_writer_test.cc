#include "client/output_writer.h"

#include "tests/client/chunk_test_util.h"

#include "common/wheel_bits.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

using ::testing::HasSubstr;

// Captures what a writer prints, through a real FILE*.
class Captured {
 public:
  Captured() : file_(open_memstream(&data_, &size_)) {}
  ~Captured() {
    fclose(file_);
    free(data_);
  }
  FILE* file() { return file_; }
  std::string text() {
    fflush(file_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  FILE* file_;
};

bool IsPrime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

// The primality of lo..hi cut into chunks of `chunk_size`, packed LSB first.
std::vector<ChunkResult> PrimeChunks(uint64_t lo, uint64_t hi,
                                     uint64_t chunk_size) {
  auto input = Range(lo, hi);
  std::vector<ChunkResult> chunks;
  for (uint64_t index = 0;; ++index) {
    uint64_t items = internal::ChunkItemCount(hi - lo, chunk_size, index);
    if (items == 0) break;
    std::string bits((items + 7) / 8, '\0');
    for (uint64_t i = 0; i < items; ++i) {
      if (IsPrime(lo + index * chunk_size + i)) bits[i / 8] |= 1 << (i % 8);
    }
    v1::ChunkOutput output;
    output.set_bits(bits);
    chunks.push_back(*DecodeChunk(input, chunk_size, index, output));
  }
  return chunks;
}

std::string WriteAll(OutputFormat format, const std::vector<ChunkResult>& chunks) {
  Captured out;
  std::unique_ptr<OutputWriter> writer = MakeOutputWriter(format, out.file());
  for (const ChunkResult& chunk : chunks) {
    absl::Status status = writer->Write(chunk);
    EXPECT_TRUE(status.ok()) << status;
  }
  EXPECT_TRUE(writer->Finish(/*complete=*/true).ok());
  writer.reset();
  return out.text();
}

TEST(OutputWriterTest, TsvPrintsBoolsAsWords) {
  EXPECT_EQ(WriteAll(OutputFormat::kTsv, PrimeChunks(1, 5, 2)),
            "1\tfalse\n2\ttrue\n3\ttrue\n4\tfalse\n5\ttrue\n");
}

TEST(OutputWriterTest, TsvAndJsonPrintValuesAndLists) {
  auto input = Range(11, 12);
  v1::ChunkOutput lists;
  for (uint32_t length : {1, 3}) lists.mutable_lists()->add_lengths(length);
  for (uint64_t v : {11, 2, 2, 3}) lists.mutable_lists()->add_values(v);
  std::vector<ChunkResult> chunks = {*DecodeChunk(input, 2, 0, lists)};
  EXPECT_EQ(WriteAll(OutputFormat::kTsv, chunks), "11\t11\n12\t2 2 3\n");
  EXPECT_EQ(WriteAll(OutputFormat::kJson, chunks),
            "{\"n\":11,\"result\":[11]}\n{\"n\":12,\"result\":[2,2,3]}\n");

  v1::ChunkOutput values;
  values.mutable_values()->add_values(UINT64_MAX);
  values.mutable_values()->add_values(0);
  chunks = {*DecodeChunk(input, 2, 0, values)};
  EXPECT_EQ(WriteAll(OutputFormat::kTsv, chunks),
            "11\t18446744073709551615\n12\t0\n");
  EXPECT_EQ(WriteAll(OutputFormat::kJson, PrimeChunks(2, 2, 1)),
            "{\"n\":2,\"result\":true}\n");
}

TEST(OutputWriterTest, TruePrintsOnlyTheTrueItems) {
  EXPECT_EQ(WriteAll(OutputFormat::kTrue, PrimeChunks(1, 30, 7)),
            "2\n3\n5\n7\n11\n13\n17\n19\n23\n29\n");
}

TEST(OutputWriterTest, CountSumsBitsAndReducedCounts) {
  EXPECT_EQ(WriteAll(OutputFormat::kCount, PrimeChunks(1, 1000, 33)), "168\n");
  auto input = Range(0, 99);
  v1::ChunkOutput a, b;
  a.set_count(7);
  b.set_count(5);
  EXPECT_EQ(WriteAll(OutputFormat::kCount, {*DecodeChunk(input, 50, 0, a),
                                       *DecodeChunk(input, 50, 1, b)}),
            "12\n");
}

TEST(OutputWriterTest, CountPrintsNothingForAnIncompleteJob) {
  Captured out;
  std::unique_ptr<OutputWriter> writer =
      MakeOutputWriter(OutputFormat::kCount, out.file());
  ASSERT_TRUE(writer->Write(PrimeChunks(1, 100, 100)[0]).ok());
  ASSERT_TRUE(writer->Finish(/*complete=*/false).ok());
  EXPECT_EQ(out.text(), "");
}

TEST(OutputWriterTest, BitmapConcatenatesChunksNotMultipleOfEight) {
  const uint64_t lo = 1, hi = 1000;
  std::string expected((hi - lo + 1 + 7) / 8, '\0');
  for (uint64_t i = 0; i <= hi - lo; ++i) {
    if (IsPrime(lo + i)) expected[i / 8] |= 1 << (i % 8);
  }
  for (uint64_t chunk_size : {1, 3, 7, 8, 13, 64, 999, 1000}) {
    EXPECT_EQ(WriteAll(OutputFormat::kBitmap, PrimeChunks(lo, hi, chunk_size)),
              expected)
        << "chunk size " << chunk_size;
  }
}

TEST(OutputWriterTest, BoolFormatsRefuseOtherResults) {
  v1::ChunkOutput values;
  values.mutable_values()->add_values(1);
  ChunkResult chunk = *DecodeChunk(Range(1, 1), 1, 0, values);
  for (OutputFormat format :
       {OutputFormat::kTrue, OutputFormat::kCount, OutputFormat::kBitmap}) {
    Captured out;
    absl::Status status = MakeOutputWriter(format, out.file())->Write(chunk);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("does not fit"));
  }
}

// Bits of the items of a chunk: item i is true when `truth(n(i))`.
v1::ChunkOutput BitsOf(const std::vector<uint64_t>& numbers,
                       bool (*truth)(uint64_t)) {
  std::string bits((numbers.size() + 7) / 8, '\0');
  for (size_t i = 0; i < numbers.size(); ++i) {
    if (truth(numbers[i])) bits[i / 8] |= static_cast<char>(1 << (i % 8));
  }
  v1::ChunkOutput output;
  output.set_bits(bits);
  return output;
}

bool EveryThird(uint64_t n) { return n % 3 == 0; }

// The tsv lines of `numbers`, built the plain way.
std::string ReferenceTsv(const std::vector<uint64_t>& numbers,
                         bool (*truth)(uint64_t)) {
  std::string text;
  for (uint64_t n : numbers) {
    text += std::to_string(n) + (truth(n) ? "\ttrue\n" : "\tfalse\n");
  }
  return text;
}

TEST(OutputWriterTest, RangeNumbersCountUpAcrossEveryDigitCount) {
  // The writer counts a range's numbers up as text: every carry from 9 to
  // 10 up to 99999 to 100000 is in 1..200000 (~2.3 MB, through the 128 KiB
  // buffer more than once), and the last numbers of uint64 (19 and 20
  // digits) sit at the end of its range.
  std::vector<uint64_t> numbers;
  for (uint64_t n = 1; n <= 200000; ++n) numbers.push_back(n);
  EXPECT_EQ(WriteAll(OutputFormat::kTsv, PrimeChunks(1, 200000, 4096)),
            ReferenceTsv(numbers, IsPrime));

  const uint64_t lo = UINT64_MAX - 40;
  numbers.clear();
  for (uint64_t n = lo;; ++n) {
    numbers.push_back(n);
    if (n == UINT64_MAX) break;
  }
  const std::vector<uint64_t> nines = {9999999999999999998u, 9999999999999999999u,
                                       10000000000000000000u, 10000000000000000001u};
  for (const std::vector<uint64_t>& range : {numbers, nines}) {
    ASSERT_TRUE(internal::ChunkItemCount(range.back() - range.front(), 64, 0) ==
                range.size());
    std::vector<ChunkResult> chunks = {
        *DecodeChunk(Range(range.front(), range.back()), 64, 0,
                     BitsOf(range, EveryThird))};
    EXPECT_EQ(WriteAll(OutputFormat::kTsv, chunks), ReferenceTsv(range, EveryThird));
  }
}

TEST(OutputWriterTest, ListNumbersPrintAsGiven) {
  const std::vector<uint64_t> numbers = {7, 100, 3, UINT64_MAX, 0, 99, 1000000};
  std::vector<ChunkResult> chunks = {
      *DecodeListChunk(numbers, 0, 0, BitsOf(numbers, EveryThird))};
  EXPECT_EQ(WriteAll(OutputFormat::kTsv, chunks), ReferenceTsv(numbers, EveryThird));
  std::string json;
  for (uint64_t n : numbers) {
    json += "{\"n\":" + std::to_string(n) + ",\"result\":" +
            (EveryThird(n) ? "true" : "false") + "}\n";
  }
  EXPECT_EQ(WriteAll(OutputFormat::kJson, chunks), json);
}

// The primes of lo..hi (hi < 2^32) by a plain sieve.
std::vector<bool> PrimesOf(uint64_t lo, uint64_t hi) {
  std::vector<bool> composite(hi + 1);
  for (uint64_t p = 2; p * p <= hi; ++p) {
    if (composite[p]) continue;
    for (uint64_t m = p * p; m <= hi; m += p) composite[m] = true;
  }
  std::vector<bool> prime;
  for (uint64_t n = lo; n <= hi; ++n) prime.push_back(n >= 2 && !composite[n]);
  return prime;
}

TEST(OutputWriterTest, BitmapOfPrimeWheelsMatchesPlainBits) {
  // Wheel chunks (8 bits per 30 numbers) are expanded in slices straight
  // into the output: chunks of several slices, starting at several
  // residues, and of sizes not a multiple of 8 (so later ones start
  // mid-byte).
  struct Job {
    uint64_t lo, chunk_size, chunks;
  };
  for (const Job& job : {Job{1, uint64_t{1} << 22, 3}, Job{7, 2000003, 4}}) {
    const uint64_t hi = job.lo + (job.chunks - 1) * job.chunk_size + 1234;
    SCOPED_TRACE(testing::Message() << job.lo << ".." << hi);
    const std::vector<bool> prime = PrimesOf(job.lo, hi);
    std::vector<ChunkResult> wheels, plain;
    for (uint64_t index = 0; index < job.chunks; ++index) {
      const uint64_t items =
          internal::ChunkItemCount(hi - job.lo, job.chunk_size, index);
      const uint64_t first = job.lo + index * job.chunk_size;
      const uint64_t last = first + items - 1;
      std::string wheel(last / 30 - first / 30 + 1, '\0');
      std::string bits((items + 7) / 8, '\0');
      for (uint64_t n = first; n <= last; ++n) {
        if (!prime[n - job.lo]) continue;
        bits[(n - first) / 8] |= static_cast<char>(1 << ((n - first) % 8));
        if (n > 5) {
          wheel[n / 30 - first / 30] |=
              static_cast<char>(1 << kWheelBitOfResidue[n % 30]);
        }
      }
      v1::ChunkOutput output;
      output.set_prime_wheel(wheel);
      wheels.push_back(
          *DecodeChunk(Range(job.lo, hi), job.chunk_size, index, output));
      output.Clear();
      output.set_bits(bits);
      plain.push_back(
          *DecodeChunk(Range(job.lo, hi), job.chunk_size, index, output));
    }
    const std::string expected = WriteAll(OutputFormat::kBitmap, plain);
    ASSERT_EQ(expected.size(), (hi - job.lo + 1 + 7) / 8);
    EXPECT_TRUE(WriteAll(OutputFormat::kBitmap, wheels) == expected);
  }
}

TEST(ParseOutputFormatTest, ListsTheFormatsOnAnUnknownOne) {
  EXPECT_EQ(*ParseOutputFormat("bitmap"), OutputFormat::kBitmap);
  absl::StatusOr<OutputFormat> format = ParseOutputFormat("xml");
  ASSERT_FALSE(format.ok());
  EXPECT_THAT(format.status().message(), HasSubstr("unknown --format 'xml'"));
  EXPECT_THAT(format.status().message(), HasSubstr("tsv, json, true, count or bitmap"));
}

}  // namespace
}  // namespace tq
