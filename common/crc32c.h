// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// iSCSI, ext4 metadata and LevelDB/RocksDB logs: it detects every burst error
// up to 32 bits and all 1-3 bit errors in records far larger than ours. The
// job journal (broker/journal_file.h) checksums each record with it.
//
// A portable table-driven implementation (slicing-by-8, ~1-2 GB/s), so tq
// needs no extra dependency: Debian's Abseil 20220623 has no absl/crc.
// Thread-safe: pure functions over constant tables.
#ifndef TQ_COMMON_CRC32C_H_
#define TQ_COMMON_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace tq {

// The CRC-32C of `data` (initial value and final xor 0xFFFFFFFF, as in
// RFC 3720): Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(absl::string_view data);

// The CRC-32C of A + `data`, given `crc` == Crc32c(A): checksums data held in
// pieces without copying them together. Crc32cExtend(0, d) == Crc32c(d).
uint32_t Crc32cExtend(uint32_t crc, absl::string_view data);

}  // namespace tq

#endif  // TQ_COMMON_CRC32C_H_
