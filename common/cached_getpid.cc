// getpid() without a system call, for executables that take libzmq from its
// archive: cmake/StaticDeps.cmake links them with -Wl,--wrap=getpid, so
// every call to getpid in their own objects and archives (libzmq's among
// them, not libc's own) comes here.
//
// Why: libzmq asks getpid() on every signal between its threads and on
// every wait for one (its check for a forked child), and glibc has not
// cached the pid since 2.25, so each is a system call: a third of all the
// system calls of the broker, the workers and the client of bench P2 (0.6
// per chunk), at ~1 µs each in this VM.
//
// The pid is cached on first use and forgotten in the child of every
// fork() (pthread_atfork), so a forked child asks the kernel again and
// libzmq still sees that it is one. A process made without fork() (vfork,
// posix_spawn, clone) runs nothing of ours before it execs.
#include <pthread.h>
#include <sys/types.h>

#include <atomic>

extern "C" pid_t __real_getpid();

namespace {

std::atomic<pid_t> cached_pid{0};

void ForgetInChild() { cached_pid.store(0, std::memory_order_relaxed); }

}  // namespace

extern "C" pid_t __wrap_getpid() {
  pid_t pid = cached_pid.load(std::memory_order_relaxed);
  if (pid != 0) return pid;
  // Before the first caching: a fork from now on must find it forgotten.
  static const bool registered = pthread_atfork(nullptr, nullptr,
                                                ForgetInChild) == 0;
  pid = __real_getpid();
  if (registered) cached_pid.store(pid, std::memory_order_relaxed);
  return pid;
}
