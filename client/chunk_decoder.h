// Internal to the client library: turning a result payload into a
// ChunkResult. A task job's payload is a serialized ChunkOutput, checked
// against the chunk's shape (network input is untrusted: kInternal naming the
// mismatch); a code job's is kept as bytes.
#ifndef TQ_CLIENT_CHUNK_DECODER_H_
#define TQ_CLIENT_CHUNK_DECODER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "client/chunk_result.h"
#include "common/payload.h"
#include "tq/v1/tq.pb.h"

namespace tq {
namespace internal {

// What the client knows of a chunk before its result arrives.
struct ChunkMeta {
  uint64_t chunk_index = 0;
  uint64_t first_item = 0;  // index within the job
  uint64_t size = 0;        // items
  // Task jobs: item i is the number lo + i, or numbers[offset + i] for list
  // input (offset: where a part of a split chunk starts in its numbers).
  uint64_t lo = 0;
  std::shared_ptr<const std::vector<uint64_t>> numbers;
  uint64_t offset = 0;
};

struct ChunkData {
  ChunkMeta meta;
  v1::ChunkOutput output;               // task jobs
  // A prime_wheel output as plain bits, made by ChunkResult::bits().
  mutable absl::once_flag expand_once;
  mutable std::string expanded;
  std::vector<uint64_t> list_offsets;   // kLists: size+1 prefix sums
  Payload bytes;                        // code jobs
  std::string error;                    // kFailed
};

class ChunkDecoder {
 public:
  static absl::StatusOr<ChunkResult> DecodeTask(ChunkMeta meta,
                                                const Payload& payload,
                                                uint64_t run_micros);
  static ChunkResult Bytes(ChunkMeta meta, Payload payload, uint64_t run_micros);
  // Items that failed on every attempt (skip_failed): no result, `error`.
  static ChunkResult Failed(ChunkMeta meta, std::string error);
};

// Items in chunk `chunk_index` of a range job whose last item index is
// `last_index`, cut in chunks of `chunk_size`; 0 if the chunk lies beyond.
uint64_t ChunkItemCount(uint64_t last_index, uint64_t chunk_size,
                        uint64_t chunk_index);

}  // namespace internal
}  // namespace tq

#endif  // TQ_CLIENT_CHUNK_DECODER_H_
