#include "common/wakeup.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace tq {

Wakeup::Wakeup() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) {
    perror("tq: eventfd");
    abort();
  }
}

Wakeup::~Wakeup() { close(fd_); }

void Wakeup::Notify() {
  uint64_t one = 1;
  // EAGAIN means the counter is saturated: a wake is pending anyway.
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
}

void Wakeup::Drain() {
  // Not a semaphore eventfd: one read takes the whole count and clears it
  // (EAGAIN if nothing was pending). A second read would only fail.
  uint64_t value;
  [[maybe_unused]] ssize_t n = read(fd_, &value, sizeof value);
}

}  // namespace tq
