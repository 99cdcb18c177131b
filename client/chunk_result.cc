#include "client/chunk_result.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/chunk_decoder.h"
#include "common/wheel_bits.h"
#include "google/protobuf/io/zero_copy_stream.h"

namespace tq {

absl::string_view ChunkResult::bits() const {
  if (wheel_ == nullptr) return data_->output.bits();
  absl::call_once(data_->expand_once, [this] {
    data_->expanded.resize((size_ + 7) / 8);
    WheelToBits(wheel_, lo_, lo_ + (size_ - 1),
                reinterpret_cast<uint8_t*>(data_->expanded.data()));
  });
  return data_->expanded;
}

void ChunkResult::CopyBits(uint64_t from, uint64_t n, char* out) const {
  if (n == 0) return;
  if (wheel_ == nullptr || from % 15 != 0) {
    std::memcpy(out, bits().data() + from, n);
    return;
  }
  // 120 items are 4 wheel bytes and 15 plain bytes: the slice starts on a
  // wheel byte and at the same residue as the chunk.
  const uint64_t begin = from * 8;
  const uint64_t end = std::min(size_, (from + n) * 8);
  WheelToBits(wheel_ + begin / 30, lo_ + begin, lo_ + (end - 1),
              reinterpret_cast<uint8_t*>(out));
}

bool ChunkResult::WheelBit(uint64_t i) const {
  return WheelTest(wheel_, lo_, lo_ + i);
}

uint64_t ChunkResult::NextTrue(uint64_t i) const {
  if (i >= size_) return size_;
  if (wheel_ != nullptr) {
    const uint64_t n = WheelNextTrue(wheel_, lo_, lo_ + (size_ - 1), lo_ + i);
    return n == 0 ? size_ : n - lo_;
  }
  // Plain bits: whole bytes at a time past the first.
  uint8_t byte = static_cast<uint8_t>(bits_[i / 8] >> (i % 8));
  if (byte != 0) return std::min<uint64_t>(i + std::countr_zero(byte), size_);
  for (uint64_t b = i / 8 + 1; b < (size_ + 7) / 8; ++b) {
    if (bits_[b] != 0) return b * 8 + std::countr_zero(bits_[b]);
  }
  return size_;
}

uint64_t ChunkResult::count() const {
  if (kind_ == Kind::kCount) return data_->output.count();
  if (wheel_ != nullptr) return WheelCount(wheel_, lo_, lo_ + (size_ - 1));
  uint64_t total = 0;
  if (kind_ == Kind::kBits) {
    for (char c : data_->output.bits()) {
      total += std::popcount(static_cast<uint8_t>(c));
    }
  }
  return total;
}

size_t ChunkResult::byte_size() const { return data_->bytes.size(); }

void ChunkResult::CopyBytesTo(char* out) const { data_->bytes.CopyTo(out); }

std::string ChunkResult::bytes() const { return data_->bytes.ToString(); }

const std::string& ChunkResult::error() const { return data_->error; }

namespace internal {
namespace {

// A payload's frames as a protobuf input stream, so a result is parsed
// where its frames lie, without joining them into one copy first.
class FramesInputStream : public google::protobuf::io::ZeroCopyInputStream {
 public:
  explicit FramesInputStream(const Payload& payload)
      : frames_(payload.frames()) {}

  bool Next(const void** data, int* size) override {
    if (frame_ == frames_.size()) return false;
    const PayloadFrame& frame = frames_[frame_++];
    *data = frame.data + start_;
    *size = static_cast<int>(frame.size - start_);
    position_ += frame.size - start_;
    start_ = 0;
    return true;
  }
  void BackUp(int count) override {
    // Only the bytes of the last Next, which re-reading frame_ - 1 returns.
    --frame_;
    start_ = frames_[frame_].size - static_cast<size_t>(count);
    position_ -= static_cast<size_t>(count);
  }
  bool Skip(int count) override {
    const void* data;
    int size;
    while (count > 0 && Next(&data, &size)) {
      if (size > count) {
        BackUp(size - count);
        return true;
      }
      count -= size;
    }
    return count == 0;
  }
  int64_t ByteCount() const override { return static_cast<int64_t>(position_); }

 private:
  const PayloadFrames& frames_;
  size_t frame_ = 0;     // the next frame Next returns
  size_t start_ = 0;     // where in it to start (after a BackUp)
  size_t position_ = 0;
};

bool ParseFrames(const Payload& payload, v1::ChunkOutput* output) {
  FramesInputStream stream(payload);
  return output->ParseFromZeroCopyStream(&stream);
}

}  // namespace

uint64_t ChunkItemCount(uint64_t last_index, uint64_t chunk_size,
                        uint64_t chunk_index) {
  if (chunk_size == 0) return 0;
  // start = chunk_index * chunk_size, without overflow.
  if (chunk_index > last_index / chunk_size) return 0;
  uint64_t start = chunk_index * chunk_size;
  uint64_t remaining = last_index - start;  // items after the first
  return (remaining < chunk_size - 1 ? remaining : chunk_size - 1) + 1;
}

absl::StatusOr<ChunkResult> ChunkDecoder::DecodeTask(ChunkMeta meta,
                                                     const Payload& payload,
                                                     uint64_t run_micros) {
  auto data = std::make_shared<ChunkData>();
  const uint64_t index = meta.chunk_index;
  const uint64_t size = meta.size;
  if (!ParseFrames(payload, &data->output)) {
    return absl::InternalError(
        absl::StrCat("chunk ", index, "'s result is not a tq.v1.ChunkOutput"));
  }
  v1::ChunkOutput& output = data->output;
  auto mismatch = [&](absl::string_view what, uint64_t got, uint64_t want) {
    return absl::InternalError(
        absl::StrCat("chunk ", index, " came back with ", got, " ", what,
                     " for ", size, " items (expected ", want, ")"));
  };
  ChunkResult r;
  switch (output.output_case()) {
    case v1::ChunkOutput::kBits: {
      r.kind_ = ChunkResult::Kind::kBits;
      const uint64_t want = (size + 7) / 8;
      if (output.bits().size() != want) {
        return mismatch("bytes", output.bits().size(), want);
      }
      // Unused high bits must be zero; clear them rather than trust them.
      if (size % 8 != 0) {
        std::string& packed = *output.mutable_bits();
        packed.back() = static_cast<char>(static_cast<uint8_t>(packed.back()) &
                                          ((1u << (size % 8)) - 1));
      }
      break;
    }
    case v1::ChunkOutput::kPrimeWheel: {
      r.kind_ = ChunkResult::Kind::kBits;
      if (meta.numbers != nullptr || size == 0) {
        return absl::InternalError(absl::StrCat(
            "chunk ", index, " came back as a prime wheel, which only a "
            "range of numbers can"));
      }
      if (meta.lo > std::numeric_limits<uint64_t>::max() - (size - 1)) {
        return absl::InternalError(
            absl::StrCat("chunk ", index, " runs past 2^64-1"));
      }
      const uint64_t last = meta.lo + (size - 1);
      const uint64_t want = WheelBytes(meta.lo, last);
      if (output.prime_wheel().size() != want) {
        return mismatch("wheel bytes", output.prime_wheel().size(), want);
      }
      if (!WheelBitsWithin(
              reinterpret_cast<const uint8_t*>(output.prime_wheel().data()),
              meta.lo, last)) {
        return absl::InternalError(absl::StrCat(
            "chunk ", index, "'s prime wheel has bits outside ", meta.lo,
            "..", last));
      }
      break;
    }
    case v1::ChunkOutput::kValues:
      r.kind_ = ChunkResult::Kind::kValues;
      if (static_cast<uint64_t>(output.values().values_size()) != size) {
        return mismatch("values", output.values().values_size(), size);
      }
      break;
    case v1::ChunkOutput::kLists: {
      r.kind_ = ChunkResult::Kind::kLists;
      const v1::ValueLists& lists = output.lists();
      if (static_cast<uint64_t>(lists.lengths_size()) != size) {
        return mismatch("list lengths", lists.lengths_size(), size);
      }
      data->list_offsets.reserve(size + 1);
      uint64_t offset = 0;
      data->list_offsets.push_back(0);
      for (uint32_t length : lists.lengths()) {
        offset += length;
        data->list_offsets.push_back(offset);
      }
      if (offset != static_cast<uint64_t>(lists.values_size())) {
        return mismatch("list values", lists.values_size(), offset);
      }
      break;
    }
    case v1::ChunkOutput::kCount:
      r.kind_ = ChunkResult::Kind::kCount;
      if (output.count() > size) {
        return mismatch("as count", output.count(), size);
      }
      break;
    case v1::ChunkOutput::OUTPUT_NOT_SET:
      return absl::InternalError(
          absl::StrCat("chunk ", index, " came back with no output"));
  }
  r.chunk_index_ = index;
  r.first_item_ = meta.first_item;
  r.size_ = size;
  r.run_micros_ = run_micros;
  r.lo_ = meta.lo;
  if (meta.numbers != nullptr) r.numbers_ = meta.numbers->data() + meta.offset;
  switch (r.kind_) {
    case ChunkResult::Kind::kBits:
      if (output.output_case() == v1::ChunkOutput::kPrimeWheel) {
        r.wheel_ = reinterpret_cast<const uint8_t*>(output.prime_wheel().data());
      } else {
        r.bits_ = reinterpret_cast<const uint8_t*>(output.bits().data());
      }
      break;
    case ChunkResult::Kind::kValues:
      r.values_ = output.values().values().data();
      break;
    case ChunkResult::Kind::kLists:
      r.values_ = output.lists().values().data();
      r.list_offsets_ = data->list_offsets.data();
      break;
    default:
      break;
  }
  data->meta = std::move(meta);
  r.data_ = std::move(data);
  return r;
}

ChunkResult ChunkDecoder::Bytes(ChunkMeta meta, Payload payload,
                                uint64_t run_micros) {
  auto data = std::make_shared<ChunkData>();
  ChunkResult r;
  r.kind_ = ChunkResult::Kind::kBytes;
  r.chunk_index_ = meta.chunk_index;
  r.first_item_ = meta.first_item;
  r.size_ = meta.size;
  r.run_micros_ = run_micros;
  r.lo_ = meta.first_item;
  data->meta = std::move(meta);
  data->bytes = std::move(payload);
  r.data_ = std::move(data);
  return r;
}

ChunkResult ChunkDecoder::Failed(ChunkMeta meta, std::string error) {
  auto data = std::make_shared<ChunkData>();
  ChunkResult r;
  r.kind_ = ChunkResult::Kind::kFailed;
  r.chunk_index_ = meta.chunk_index;
  r.first_item_ = meta.first_item;
  r.size_ = meta.size;
  r.lo_ = meta.lo;
  if (meta.numbers != nullptr) r.numbers_ = meta.numbers->data() + meta.offset;
  data->meta = std::move(meta);
  data->error = std::move(error);
  r.data_ = std::move(data);
  return r;
}

}  // namespace internal
}  // namespace tq
