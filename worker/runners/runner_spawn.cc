#include "worker/runners/runner_spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/runners/pidfd.h"
#include "worker/runners/runner_protocol.h"

namespace tq {
namespace {

// What the child reports on its status pipe when a step before exec fails.
enum ChildStep : int32_t {
  kOpenDevNull = 1,
  kMoveFds,
  kSetpgid,
  kSetgroups,
  kSetgid,
  kSetuid,
  kRegainedRoot,
  kNoNewPrivs,
  kChdir,
  kDeathSignal,
  kExec,
};

const char* StepName(int32_t step) {
  switch (step) {
    case kOpenDevNull:
      return "open /dev/null";
    case kMoveFds:
      return "set up fds 0, 3 and 4";
    case kSetpgid:
      return "setpgid";
    case kSetgroups:
      return "setgroups";
    case kSetgid:
      return "setgid";
    case kSetuid:
      return "setuid";
    case kRegainedRoot:
      return "drop root for good (setuid(0) still works)";
    case kNoNewPrivs:
      return "prctl(PR_SET_NO_NEW_PRIVS)";
    case kChdir:
      return "chdir";
    case kDeathSignal:
      return "prctl(PR_SET_PDEATHSIG)";
    case kExec:
      return "execve";
  }
  return "an unknown step";
}

struct ChildFailure {
  int32_t step;
  int32_t error;
};

// The fd the child reports failures on, until exec closes it.
constexpr int kStatusFd = 5;

// Runs in the forked child of a multi-threaded process: only
// async-signal-safe calls (no allocation, no locks, no stdio), and raw
// syscalls for credentials (glibc's setuid() would try to signal the
// parent's other threads, which the child does not have).
[[noreturn]] void RunChild(const RunnerLaunch& launch, int request_read,
                           int reply_write, int status_write, pid_t parent) {
  int status_fd = status_write;
  auto fail = [&status_fd](int32_t step) {
    ChildFailure failure{step, errno};
    ssize_t ignored = write(status_fd, &failure, sizeof failure);
    (void)ignored;
    _exit(127);
  };

  int dev_null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (dev_null < 0) fail(kOpenDevNull);
  // Move every fd we keep above the targets first: a source may itself be
  // 0, 3, 4 or 5.
  int high[4];
  const int sources[4] = {dev_null, request_read, reply_write, status_write};
  for (int i = 0; i < 4; ++i) {
    high[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, 10);
    if (high[i] < 0) fail(kMoveFds);
  }
  status_fd = high[3];
  if (dup2(high[0], 0) < 0 || dup2(high[1], runner_protocol::kRequestFd) < 0 ||
      dup2(high[2], runner_protocol::kReplyFd) < 0 ||
      dup3(high[3], kStatusFd, O_CLOEXEC) < 0) {
    fail(kMoveFds);
  }
  status_fd = kStatusFd;
  if (close_range(kStatusFd + 1, ~0U, 0) != 0) {
    for (int fd = kStatusFd + 1; fd < 65536; ++fd) close(fd);  // kernel < 5.9
  }

  // Ctrl-C at the worker's terminal must not reach the runners: the worker
  // decides what happens to them.
  if (setpgid(0, 0) != 0) fail(kSetpgid);

  struct sigaction default_action;
  std::memset(&default_action, 0, sizeof default_action);
  default_action.sa_handler = SIG_DFL;
  for (int signo = 1; signo < NSIG; ++signo) {
    sigaction(signo, &default_action, nullptr);  // EINVAL for KILL, STOP
  }

  if (const CodeUser* user = launch.user()) {
    if (syscall(SYS_setgroups, user->groups.size(), user->groups.data()) != 0) {
      fail(kSetgroups);
    }
    if (syscall(SYS_setgid, user->gid) != 0) fail(kSetgid);
    if (syscall(SYS_setuid, user->uid) != 0) fail(kSetuid);
    if (syscall(SYS_setuid, 0) == 0) {
      errno = EPERM;
      fail(kRegainedRoot);
    }
    // No way back up through setuid binaries (su, sudo) either.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(kNoNewPrivs);
  }
  // After the credentials change: chdir is checked as the code user.
  if (const char* cwd = launch.working_directory()) {
    if (chdir(cwd) != 0) fail(kChdir);
  }
  // After the credentials change, which clears the death signal. Then
  // close the race: the worker may have died before prctl.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(kDeathSignal);
  if (getppid() != parent) _exit(1);

  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // the forking thread blocks all
  execve(launch.program(), launch.argv(), launch.envp());
  fail(kExec);
  _exit(127);  // not reached
}

void CloseFd(int fd) {
  if (fd >= 0) close(fd);
}

}  // namespace

absl::StatusOr<RunnerChild> SpawnRunner(const RunnerLaunch& launch,
                                        ForkingThread& forking_thread) {
  int request[2] = {-1, -1}, reply[2] = {-1, -1}, status[2] = {-1, -1};
  if (pipe2(request, O_CLOEXEC) != 0 || pipe2(reply, O_CLOEXEC) != 0 ||
      pipe2(status, O_CLOEXEC) != 0) {
    const int error = errno;
    for (int fd : {request[0], request[1], reply[0], reply[1]}) CloseFd(fd);
    return absl::ResourceExhaustedError(
        absl::StrCat("pipe: ", std::strerror(error)));
  }
  const pid_t parent = getpid();
  pid_t pid = -1;
  int fork_error = 0;
  forking_thread.Run([&] {
    pid = fork();
    if (pid == 0) RunChild(launch, request[0], reply[1], status[1], parent);
    fork_error = errno;
  });
  CloseFd(request[0]);
  CloseFd(reply[1]);
  CloseFd(status[1]);
  if (pid < 0) {
    CloseFd(request[1]);
    CloseFd(reply[0]);
    CloseFd(status[0]);
    return absl::ResourceExhaustedError(
        absl::StrCat("fork: ", std::strerror(fork_error)));
  }

  // EOF on the status pipe: exec succeeded (it closed the CLOEXEC end).
  ChildFailure failure{};
  size_t got = 0;
  while (got < sizeof failure) {
    ssize_t n = read(status[0], reinterpret_cast<char*>(&failure) + got,
                     sizeof failure - got);
    if (n > 0) {
      got += n;
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  CloseFd(status[0]);
  int pidfd = got == 0 ? PidfdOpen(pid) : -1;
  if (got != 0 || pidfd < 0) {
    int pidfd_error = errno;
    if (got == 0) kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    CloseFd(request[1]);
    CloseFd(reply[0]);
    if (got == 0) {
      return absl::InternalError(
          absl::StrCat("pidfd_open: ", std::strerror(pidfd_error)));
    }
    if (got != sizeof failure) {
      return absl::InternalError("runner child died before exec");
    }
    std::string what = StepName(failure.step);
    if (failure.step == kExec) absl::StrAppend(&what, " ", launch.program());
    if (failure.step == kChdir) {
      absl::StrAppend(&what, " ", launch.working_directory());
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot start a runner: ", what, ": ", std::strerror(failure.error)));
  }

  // Room for big requests and results in fewer wake-ups (1 MiB is the
  // default /proc/sys/fs/pipe-max-size; a refusal only costs speed).
  fcntl(request[1], F_SETPIPE_SZ, 1 << 20);
  fcntl(reply[0], F_SETPIPE_SZ, 1 << 20);
  fcntl(request[1], F_SETFL, O_NONBLOCK);
  fcntl(reply[0], F_SETFL, O_NONBLOCK);
  return RunnerChild{pid, pidfd, request[1], reply[0]};
}

}  // namespace tq
