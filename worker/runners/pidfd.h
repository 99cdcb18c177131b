// pidfd_open and pidfd_send_signal as raw syscalls: glibc 2.36's
// <sys/pidfd.h> declares them without extern "C", so C++ cannot link them.
#ifndef TQ_WORKER_RUNNERS_PIDFD_H_
#define TQ_WORKER_RUNNERS_PIDFD_H_

#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace tq {

// A CLOEXEC fd that polls readable once process `pid` has exited; -1 and
// errno on failure (Linux >= 5.3).
inline int PidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

// Sends `signo` to the process behind `pidfd`; fails with ESRCH once it has
// been reaped, so unlike kill() it can never hit a recycled pid.
inline int PidfdSendSignal(int pidfd, int signo) {
  return static_cast<int>(
      syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0));
}

}  // namespace tq

#endif  // TQ_WORKER_RUNNERS_PIDFD_H_
