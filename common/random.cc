#include "common/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tq {

void RandomFill(void* out, size_t n) {
  char* at = static_cast<char*>(out);
  while (n > 0) {
    const ssize_t got = getrandom(at, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "tq: getrandom failed: %s\n", std::strerror(errno));
      std::abort();
    }
    at += got;
    n -= static_cast<size_t>(got);
  }
}

}  // namespace tq
