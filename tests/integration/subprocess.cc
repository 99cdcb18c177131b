#include "tests/integration/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>

extern char** environ;

namespace tq::testing {
namespace {

void Die(const char* what) {
  fprintf(stderr, "subprocess: %s: %s\n", what, strerror(errno));
  abort();
}

}  // namespace

Subprocess::Subprocess(std::vector<std::string> argv,
                       std::vector<std::string> extra_env,
                       std::string stdin_data) {
  for (const std::string& a : argv) name_ += (name_.empty() ? "" : " ") + a;
  int out[2], err[2], in[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(in, O_CLOEXEC)) {
    Die("pipe");
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
  for (auto& e : extra_env) env_storage.push_back(e);
  std::vector<char*> env;
  for (auto& e : env_storage) env.push_back(e.data());
  env.push_back(nullptr);

  // fork + exec rather than posix_spawn: the child must ask to be killed
  // when the test binary dies, even by SIGKILL (a crashed or OOM-killed test
  // must not leave brokers and workers running). Only async-signal-safe
  // calls between fork and exec.
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) Die("fork");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  stdout_reader_ = std::thread(
      [this, fd = out[0]] { ReadInto(fd, &stdout_, &stdout_closed_); });
  stderr_reader_ = std::thread(
      [this, fd = err[0]] { ReadInto(fd, &stderr_, &stderr_closed_); });
  stdin_writer_ = std::thread([fd = in[1], data = std::move(stdin_data)] {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = write(fd, data.data() + done, data.size() - done);
      if (n <= 0) break;  // child closed stdin: fine
      done += static_cast<size_t>(n);
    }
    close(fd);
  });
}

Subprocess::~Subprocess() {
  if (!exit_) {
    kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(10));
  }
  stdin_writer_.join();
  stdout_reader_.join();
  stderr_reader_.join();
}

void Subprocess::ReadInto(int fd, std::string* sink, bool* closed) {
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    absl::MutexLock lock(&mu_);
    if (sink->size() > kMaxCapturedBytes) {
      fprintf(stderr, "subprocess: killing '%s': over %zu bytes of output\n",
              name_.c_str(), kMaxCapturedBytes);
      kill(pid_, SIGKILL);
      break;
    }
    sink->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  absl::MutexLock lock(&mu_);
  *closed = true;
}

void Subprocess::Signal(int signo) {
  if (!exit_) kill(pid_, signo);
}

std::optional<std::string> Subprocess::WaitForStdoutLine(
    const std::string& prefix, Clock::duration timeout) {
  std::optional<std::string> found;
  auto has_line = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t start = 0;
    for (size_t nl; (nl = stdout_.find('\n', start)) != std::string::npos;
         start = nl + 1) {
      if (stdout_.compare(start, prefix.size(), prefix) == 0) {
        found = stdout_.substr(start + prefix.size(), nl - start - prefix.size());
        return true;
      }
    }
    return false;
  };
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&has_line),
                       absl::FromChrono(timeout));
  return found;
}

bool Subprocess::WaitForStderrText(const std::string& text,
                                   Clock::duration timeout) {
  auto found = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stderr_.find(text) != std::string::npos;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&found), absl::FromChrono(timeout));
}

bool Subprocess::WaitForStdoutBytes(size_t bytes, Clock::duration timeout) {
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stdout_.size() >= bytes;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&enough),
                              absl::FromChrono(timeout));
}

std::optional<ExitStatus> Subprocess::Wait(Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  if (!exit_) {
    // A pidfd becomes readable when the child exits: poll it with the deadline.
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd < 0) Die("pidfd_open");
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - Clock::now());
      struct pollfd p = {pidfd, POLLIN, 0};
      int ready = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) break;
      int status = 0;
      if (waitpid(pid_, &status, 0) == pid_) {
        ExitStatus s;
        s.exited = WIFEXITED(status);
        s.code = s.exited ? WEXITSTATUS(status) : WTERMSIG(status);
        exit_ = s;
      }
      break;
    }
    close(pidfd);
    if (!exit_) return std::nullopt;
  }
  // The child is gone, but its last output may still be in the pipes.
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stdout_closed_ && stderr_closed_;
  };
  absl::MutexLock lock(&mu_);
  const auto left = std::max(deadline - Clock::now(), Clock::duration::zero());
  if (!mu_.AwaitWithTimeout(absl::Condition(&drained), absl::FromChrono(left))) {
    return std::nullopt;
  }
  return exit_;
}

std::string Subprocess::stdout_text() const {
  absl::MutexLock lock(&mu_);
  return stdout_;
}

std::string Subprocess::stderr_text() const {
  absl::MutexLock lock(&mu_);
  return stderr_;
}

std::string BrokerBinary() { return TQ_BROKER_BIN; }
std::string WorkerBinary() { return TQ_WORKER_BIN; }
std::string ClientBinary() { return TQ_CLIENT_BIN; }

}  // namespace tq::testing
