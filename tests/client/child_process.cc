#include "tests/client/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace tq {
namespace {

[[noreturn]] void Die(const char* what) {
  perror(what);
  abort();
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env,
                           const std::string& stdin_data) {
  // stdin comes from a temporary file: no writer thread, no pipe deadlock.
  char in_path[] = "/tmp/tq_child_stdin_XXXXXX";
  int in_fd = mkstemp(in_path);
  if (in_fd < 0) Die("mkstemp");
  unlink(in_path);
  if (write(in_fd, stdin_data.data(), stdin_data.size()) !=
      static_cast<ssize_t>(stdin_data.size())) {
    Die("write stdin");
  }
  lseek(in_fd, 0, SEEK_SET);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) Die("pipe");

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  // The child starts with no signals blocked and default SIGINT handling.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  if (posix_spawn(&pid_, args[0], &actions, &attr, args.data(), envp.data()) != 0) {
    Die("posix_spawn");
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in_fd);
  close(out[1]);
  close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
}

ChildProcess::~ChildProcess() {
  if (!reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

bool ChildProcess::PumpOnce(int timeout_ms) {
  pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
  if (n == 0) return false;
  if (poll(fds, n, timeout_ms) <= 0) return true;
  for (int i = 0; i < n; ++i) {
    if (fds[i].revents == 0) continue;
    bool is_out = fds[i].fd == out_fd_;
    char buffer[1 << 16];
    ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
    if (got > 0) {
      (is_out ? out_ : err_).append(buffer, static_cast<size_t>(got));
    } else {
      close(fds[i].fd);
      (is_out ? out_fd_ : err_fd_) = -1;
    }
  }
  return true;
}

bool ChildProcess::ReadUntil(const std::function<bool()>& done,
                             Clock::duration timeout) {
  Clock::time_point deadline = Clock::now() + timeout;
  while (!done()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) return false;
    if (!PumpOnce(static_cast<int>(left.count()))) return done();
  }
  return true;
}

int ChildProcess::Finish(Clock::duration timeout) {
  Clock::time_point deadline = Clock::now() + timeout;
  ReadUntil([this] { return out_fd_ < 0 && err_fd_ < 0; }, timeout);
  // Pipes closed: the child has exited or closed them; reap with a deadline.
  while (true) {
    int status = 0;
    pid_t got = waitpid(pid_, &status, WNOHANG);
    if (got == pid_) {
      reaped_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      reaped_ = true;
      return -1;
    }
    // Rare: pipes closed but not yet exited. Wait in short poll steps.
    poll(nullptr, 0, 5);
  }
}

void ChildProcess::Signal(int signo) {
  if (!reaped_) kill(pid_, signo);
}

}  // namespace tq
