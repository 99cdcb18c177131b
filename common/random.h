// Random bytes from the kernel (getrandom(2)), for secrets and identifiers:
// job tokens, session nonces, epochs. One system call each, where
// std::random_device would first probe the CPU (cpuid: ~20 us in a VM, on
// every construction).
#ifndef TQ_COMMON_RANDOM_H_
#define TQ_COMMON_RANDOM_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace tq {

// Fills [out, out + n) with random bytes. Aborts if the kernel cannot give
// them (getrandom fails only on bad arguments or before Linux 3.17): a
// predictable token is worse than no process.
void RandomFill(void* out, size_t n);

inline std::string RandomBytes(size_t n) {
  std::string bytes(n, '\0');
  RandomFill(bytes.data(), n);
  return bytes;
}

inline uint64_t RandomU64() {
  uint64_t value;
  RandomFill(&value, sizeof value);
  return value;
}

}  // namespace tq

#endif  // TQ_COMMON_RANDOM_H_
