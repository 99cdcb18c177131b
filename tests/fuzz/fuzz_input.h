// Shared by the fuzz targets: reads a fuzzer's input as a sequence of small
// fields. Reads past the end yield zeros / empty strings, so every input is
// a valid layout and the fuzzer's mutations stay meaningful.
#ifndef TQ_TESTS_FUZZ_FUZZ_INPUT_H_
#define TQ_TESTS_FUZZ_FUZZ_INPUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tq {
namespace fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), end_(size) {}

  uint8_t Byte() { return pos_ < end_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(Byte() | (Byte() << 8)); }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(Byte()) << (8 * i);
    return v;
  }
  // Takes strings of the given sizes off the end of the input (clamped to
  // what is left), returned in input order.
  std::vector<std::string> TakeFromEnd(const std::vector<size_t>& sizes) {
    std::vector<std::string> out(sizes.size());
    for (size_t i = sizes.size(); i-- > 0;) {
      const size_t n = std::min(sizes[i], end_ - pos_);
      out[i].assign(reinterpret_cast<const char*>(data_) + end_ - n, n);
      end_ -= n;
    }
    return out;
  }
  // Everything not read yet.
  std::string Rest() {
    std::string rest(reinterpret_cast<const char*>(data_) + pos_, end_ - pos_);
    pos_ = end_;
    return rest;
  }

 private:
  const uint8_t* data_;
  size_t pos_ = 0;
  size_t end_;
};

}  // namespace fuzz
}  // namespace tq

#endif  // TQ_TESTS_FUZZ_FUZZ_INPUT_H_
