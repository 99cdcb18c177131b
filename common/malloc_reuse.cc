#include "common/malloc_reuse.h"

#include <malloc.h>

namespace tq {

void ReuseFreedMemory() {
  // A failure only leaves glibc's defaults: slower, not wrong.
  (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace tq
