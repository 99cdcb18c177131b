// libFuzzer target: the client's decoding of a chunk's result payload (a
// serialized tq.v1.ChunkOutput from a worker, forwarded by the broker:
// untrusted). Whatever DecodeTask accepts must be safe to read through every
// accessor the output writers use, for every item; what it rejects is
// kInternal. Also ChunkItemCount against 128-bit arithmetic.
//
// Input layout: u16 chunk size (items, at most 4096), byte flags (bit 0:
// list input), u64 lo, u64 first_item, u64 chunk_index, then the payload.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "client/chunk_decoder.h"
#include "client/chunk_result.h"
#include "common/payload.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

void CheckItemCount(uint64_t last_index, uint64_t chunk_size,
                    uint64_t chunk_index) {
  const uint64_t got =
      tq::internal::ChunkItemCount(last_index, chunk_size, chunk_index);
  uint64_t want = 0;
  if (chunk_size != 0) {
    const unsigned __int128 start =
        static_cast<unsigned __int128>(chunk_index) * chunk_size;
    if (start <= last_index) {
      const unsigned __int128 end = start + chunk_size - 1;  // inclusive
      want = static_cast<uint64_t>((end < last_index ? end : last_index) - start + 1);
    }
  }
  if (got != want) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tq::fuzz::Input in(data, size);
  tq::internal::ChunkMeta meta;
  meta.size = in.U16() % 4097;
  const uint8_t flags = in.Byte();
  meta.lo = in.U64();
  meta.first_item = in.U64();
  meta.chunk_index = in.U64();
  CheckItemCount(meta.lo, meta.first_item, meta.chunk_index);
  if (flags & 1) {
    auto numbers = std::make_shared<std::vector<uint64_t>>();
    for (uint64_t i = 0; i < meta.size; ++i) numbers->push_back(meta.lo ^ i);
    meta.numbers = std::move(numbers);
  }
  const uint64_t items = meta.size;
  const tq::Payload payload = tq::Payload::FromString(in.Rest());

  absl::StatusOr<tq::ChunkResult> result =
      tq::internal::ChunkDecoder::DecodeTask(meta, payload, /*run_micros=*/7);
  if (!result.ok()) {
    if (result.status().code() != absl::StatusCode::kInternal) std::abort();
    return 0;
  }
  const tq::ChunkResult& r = *result;
  if (r.size() != items || r.first_item() != meta.first_item ||
      r.chunk_index() != meta.chunk_index || r.run_micros() != 7) {
    std::abort();
  }
  uint64_t sink = 0;
  for (uint64_t i = 0; i < items; ++i) sink += r.n(i);
  switch (r.kind()) {
    case tq::ChunkResult::Kind::kBits: {
      // bit(i), the packed bits, count() and NextTrue() must agree, whether
      // the result came as bits or as a prime wheel.
      const std::string packed(r.bits());
      if (packed.size() != (items + 7) / 8) std::abort();
      uint64_t ones = 0;
      uint64_t next = r.NextTrue(0);
      for (uint64_t i = 0; i < items; ++i) {
        const bool bit = r.bit(i);
        if (bit != ((static_cast<uint8_t>(packed[i / 8]) >> (i % 8)) & 1)) {
          std::abort();
        }
        if (bit != (next == i)) std::abort();
        if (bit) next = r.NextTrue(i + 1);
        ones += bit;
      }
      if (next != items) std::abort();
      if (ones != r.count()) std::abort();  // unused high bits are cleared
      // Slices copied as the bitmap writer does (15-byte steps expand a
      // wheel in place) match the packed bits.
      std::string slices(packed.size(), '\0');
      for (uint64_t from = 0; from < packed.size(); from += 15) {
        r.CopyBits(from, std::min<uint64_t>(15, packed.size() - from), &slices[from]);
      }
      if (slices != packed) std::abort();
      break;
    }
    case tq::ChunkResult::Kind::kValues:
      for (uint64_t i = 0; i < items; ++i) sink += r.value(i);
      break;
    case tq::ChunkResult::Kind::kLists:
      for (uint64_t i = 0; i < items; ++i) {
        for (uint64_t v : r.list(i)) sink += v;
      }
      break;
    case tq::ChunkResult::Kind::kCount:
      if (r.count() > items) std::abort();
      break;
    case tq::ChunkResult::Kind::kBytes:   // only code jobs' results
    case tq::ChunkResult::Kind::kFailed:  // only ChunkDecoder::Failed's
      std::abort();
  }
  // Copies share the data and outlive the decoder's locals.
  tq::ChunkResult copy = r;
  if (copy.size() != items) std::abort();
  volatile uint64_t keep = sink;
  (void)keep;
  return 0;
}
