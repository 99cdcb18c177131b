// Starting one runner process: fork (on the ForkingThread) and exec, with
// its pipes on fds 3 and 4, stdin on /dev/null, every other inherited fd
// closed, its own process group, the code user's credentials, and
// PR_SET_PDEATHSIG so that it dies with the worker.
#ifndef TQ_WORKER_RUNNERS_RUNNER_SPAWN_H_
#define TQ_WORKER_RUNNERS_RUNNER_SPAWN_H_

#include <sys/types.h>

#include "absl/status/statusor.h"
#include "worker/runners/forking_thread.h"
#include "worker/runners/runner_launch.h"

namespace tq {

// A started runner: its pid (also its process group), a pidfd that becomes
// readable when it exits, and the worker's ends of its request and reply
// pipes. Every fd is CLOEXEC; the pipe ends are non-blocking, so that the
// reader and writer can wait on them together with the pidfd.
struct RunnerChild {
  pid_t pid = -1;
  int pidfd = -1;
  int request_fd = -1;  // write end: the runner's fd 3
  int reply_fd = -1;    // read end: the runner's fd 4
};

// Starts `launch` and returns once the child has exec'd. Whatever failed
// before exec (chdir, setgroups, setuid, execve, ...) is an error naming the
// step and errno, and the child is already reaped. Thread-safe.
absl::StatusOr<RunnerChild> SpawnRunner(const RunnerLaunch& launch,
                                        ForkingThread& forking_thread);

}  // namespace tq

#endif  // TQ_WORKER_RUNNERS_RUNNER_SPAWN_H_
