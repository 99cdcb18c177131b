// Helpers the task tests share: running a registered task and decoding its
// output, and slow reference answers to check against.
#ifndef TQ_TESTS_TASKS_TASK_TEST_UTIL_H_
#define TQ_TESTS_TASKS_TASK_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tasks/task.h"

namespace tq::testing {

// The task from the built-in registry; aborts the test binary if missing.
inline const Task& GetTask(absl::string_view name) {
  return **BuiltinTasks().Lookup(name);
}

inline absl::StatusOr<v1::ChunkOutput> RunTask(
    absl::string_view name, const TaskInput& input,
    v1::Reduction reduction = v1::REDUCTION_NONE,
    const TaskParams& params = {}) {
  v1::ChunkOutput output;
  absl::Status status = GetTask(name).Run(input, params, reduction, &output);
  if (!status.ok()) return status;
  return output;
}

// The bitmap of a kBool output as one bool per item; also checks the
// layout's contract (ceil(n/8) bytes, unused high bits zero) and returns an
// empty vector if it is broken.
inline std::vector<bool> DecodeBits(const v1::ChunkOutput& output,
                                    uint64_t items) {
  const std::string& bits = output.bits();
  if (output.output_case() != v1::ChunkOutput::kBits ||
      bits.size() != (items + 7) / 8) {
    return {};
  }
  if (items % 8 != 0 &&
      (static_cast<uint8_t>(bits.back()) >> (items % 8)) != 0) {
    return {};
  }
  std::vector<bool> result(items);
  for (uint64_t i = 0; i < items; ++i) {
    result[i] = (static_cast<uint8_t>(bits[i / 8]) >> (i % 8)) & 1;
  }
  return result;
}

// A range's ChunkOutput.prime_wheel as one bool per item, decoded here
// independently of common/wheel_bits.h; also checks the layout's contract
// (last / 30 - first / 30 + 1 bytes, no bit for a number outside the range)
// and returns an empty vector if it is broken.
inline std::vector<bool> DecodeWheel(const v1::ChunkOutput& output,
                                     uint64_t first, uint64_t last) {
  static constexpr uint64_t kResidues[8] = {1, 7, 11, 13, 17, 19, 23, 29};
  const std::string& wheel = output.prime_wheel();
  if (output.output_case() != v1::ChunkOutput::kPrimeWheel ||
      wheel.size() != last / 30 - first / 30 + 1) {
    return {};
  }
  for (uint64_t j = 0; j < wheel.size(); ++j) {
    for (int k = 0; k < 8; ++k) {
      if (!((static_cast<uint8_t>(wheel[j]) >> k) & 1)) continue;
      const unsigned __int128 n =
          (unsigned __int128)(first / 30 + j) * 30 + kResidues[k];
      if (n < first || n > last) return {};
    }
  }
  std::vector<bool> result;
  for (uint64_t n = first;; ++n) {
    bool value = n == 2 || n == 3 || n == 5;
    for (int k = 0; k < 8; ++k) {
      if (n % 30 == kResidues[k]) {
        value = (static_cast<uint8_t>(wheel[n / 30 - first / 30]) >> k) & 1;
      }
    }
    result.push_back(value);
    if (n == last) break;
  }
  return result;
}

// Primality by trial division; slow, so only for n below ~2^40.
inline bool IsPrimeByTrialDivision(uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

}  // namespace tq::testing

#endif  // TQ_TESTS_TASKS_TASK_TEST_UTIL_H_
