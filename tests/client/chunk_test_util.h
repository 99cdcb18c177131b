// Builds ChunkResults the way the client's session does, for tests of what
// consumes them (output writers, the reorder buffer, decoding).
#ifndef TQ_TESTS_CLIENT_CHUNK_TEST_UTIL_H_
#define TQ_TESTS_CLIENT_CHUNK_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "client/chunk_decoder.h"
#include "common/payload.h"
#include "tq/v1/tq.pb.h"

namespace tq {

struct RangeInput {
  uint64_t lo = 0;
  uint64_t hi = 0;
};

inline RangeInput Range(uint64_t lo, uint64_t hi) { return RangeInput{lo, hi}; }

// Chunk `index` of a range job lo..hi cut in chunks of `chunk_size`, with
// `output` as its result.
inline absl::StatusOr<ChunkResult> DecodeChunk(RangeInput input,
                                               uint64_t chunk_size,
                                               uint64_t index,
                                               const v1::ChunkOutput& output) {
  internal::ChunkMeta meta;
  meta.chunk_index = index;
  meta.size = internal::ChunkItemCount(input.hi - input.lo, chunk_size, index);
  meta.first_item = index * chunk_size;
  meta.lo = input.lo + meta.first_item;
  return internal::ChunkDecoder::DecodeTask(
      meta, Payload::FromString(output.SerializeAsString()), 0);
}

// A chunk of a list job: `numbers` are its items, the first being item
// `first_item` of the job.
inline absl::StatusOr<ChunkResult> DecodeListChunk(
    std::vector<uint64_t> numbers, uint64_t first_item, uint64_t index,
    const v1::ChunkOutput& output) {
  internal::ChunkMeta meta;
  meta.chunk_index = index;
  meta.size = numbers.size();
  meta.first_item = first_item;
  meta.numbers =
      std::make_shared<const std::vector<uint64_t>>(std::move(numbers));
  return internal::ChunkDecoder::DecodeTask(
      meta, Payload::FromString(output.SerializeAsString()), 0);
}

}  // namespace tq

#endif  // TQ_TESTS_CLIENT_CHUNK_TEST_UTIL_H_
