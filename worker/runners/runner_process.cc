#include "worker/runners/runner_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/runners/pidfd.h"

namespace tq {
namespace {

using runner_protocol::kLengthSize;
using runner_protocol::kReplyHeaderSize;

constexpr size_t kBufferSize = 64 << 10;

// Writing to a pipe whose reader died raises SIGPIPE, which would kill the
// worker (it does not ignore SIGPIPE, and a library should not decide that
// for its process). While one of these lives, SIGPIPE is blocked in this
// thread; one our write raised is then taken off the pending set, so it is
// never delivered.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  void ConsumeOurs() {
    if (was_pending_) return;
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

absl::Status Exited(const char* what) {
  return absl::UnavailableError(absl::StrCat("runner ", what));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunnerProcess>> RunnerProcess::Start(
    const RunnerLaunch& launch, ForkingThread& forking_thread) {
  absl::StatusOr<RunnerChild> child = SpawnRunner(launch, forking_thread);
  if (!child.ok()) return child.status();
  return std::make_unique<RunnerProcess>(*child);
}

RunnerProcess::~RunnerProcess() {
  if (!reaped_) {
    Kill();
    Wait();
  }
  for (int fd : {child_.pidfd, child_.request_fd, child_.reply_fd}) {
    if (fd >= 0) close(fd);
  }
}

bool RunnerProcess::WaitReady(int fd, short events) const {
  pollfd fds[2] = {{fd, events, 0}, {child_.pidfd, POLLIN, 0}};
  while (true) {
    int ready = poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    // The pipe first: a runner may write its last reply, then exit.
    if (fds[0].revents != 0) return true;
    if (fds[1].revents != 0) return false;
  }
}

bool RunnerProcess::HasExited() const {
  pollfd fd = {child_.pidfd, POLLIN, 0};
  return poll(&fd, 1, 0) > 0 && fd.revents != 0;
}

absl::Status RunnerProcess::WriteAll(
    const std::vector<std::string_view>& pieces) {
  std::vector<iovec> iov;
  iov.reserve(pieces.size());
  for (std::string_view piece : pieces) {
    iov.push_back({const_cast<char*>(piece.data()), piece.size()});
  }
  SigpipeGuard guard;
  size_t next = 0;
  while (next < iov.size()) {
    const int count =
        static_cast<int>(std::min<size_t>(iov.size() - next, IOV_MAX));
    ssize_t written = writev(child_.request_fd, &iov[next], count);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!WaitReady(child_.request_fd, POLLOUT)) return Exited("exited");
        continue;
      }
      if (errno == EPIPE) {
        guard.ConsumeOurs();
        return Exited("closed its request pipe");
      }
      return absl::UnavailableError(
          absl::StrCat("writing to the runner: ", std::strerror(errno)));
    }
    size_t left = static_cast<size_t>(written);
    while (next < iov.size() && left >= iov[next].iov_len) {
      left -= iov[next].iov_len;
      ++next;
    }
    if (left > 0) {
      iov[next].iov_base = static_cast<char*>(iov[next].iov_base) + left;
      iov[next].iov_len -= left;
    }
  }
  return absl::OkStatus();
}

absl::Status RunnerProcess::ReadExact(char* out, size_t size) {
  if (!buffer_) buffer_ = std::make_unique<char[]>(kBufferSize);
  while (size > 0) {
    if (buffer_begin_ < buffer_end_) {
      size_t take = std::min(size, buffer_end_ - buffer_begin_);
      std::memcpy(out, buffer_.get() + buffer_begin_, take);
      buffer_begin_ += take;
      out += take;
      size -= take;
      continue;
    }
    // Big remainders go straight to their destination, not via the buffer.
    const bool direct = size >= kBufferSize;
    ssize_t got = read(child_.reply_fd, direct ? out : buffer_.get(),
                       direct ? size : kBufferSize);
    if (got > 0) {
      if (direct) {
        out += got;
        size -= got;
      } else {
        buffer_begin_ = 0;
        buffer_end_ = got;
      }
    } else if (got == 0) {
      return Exited("closed its reply pipe");
    } else if (errno == EAGAIN) {
      if (!WaitReady(child_.reply_fd, POLLIN)) return Exited("exited");
    } else if (errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat("reading from the runner: ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RunnerReply> RunnerProcess::ReadReply(
    uint32_t max_reply_body) {
  char length[kLengthSize];
  if (absl::Status s = ReadExact(length, sizeof length); !s.ok()) return s;
  const uint32_t body_size = runner_protocol::LoadU32(length);
  if (body_size > max_reply_body) {
    return absl::DataLossError(absl::StrCat(
        "reply of ", body_size, " bytes exceeds the limit of ",
        max_reply_body));
  }
  char head[kReplyHeaderSize + 4];
  if (body_size < sizeof head) {
    return absl::DataLossError(
        absl::StrCat("reply of ", body_size, " bytes is too short"));
  }
  if (absl::Status s = ReadExact(head, sizeof head); !s.ok()) return s;
  absl::StatusOr<runner_protocol::ReplyHeader> header =
      runner_protocol::DecodeReplyHeader(std::string_view(head, sizeof head),
                                         body_size);
  if (!header.ok()) return header.status();

  RunnerReply reply;
  reply.kind = header->kind;
  reply.retire = header->retire;
  reply.run_micros = header->run_micros;
  reply.message.resize(header->message_size);
  if (absl::Status s = ReadExact(reply.message.data(), reply.message.size());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadExact(length, sizeof length); !s.ok()) return s;
  const uint32_t payload_size = runner_protocol::LoadU32(length);
  if (payload_size != body_size - sizeof head - header->message_size - 4) {
    return absl::DataLossError(absl::StrCat(
        "reply payload of ", payload_size, " bytes does not fill its frame"));
  }
  reply.payload.resize(payload_size);
  if (absl::Status s = ReadExact(reply.payload.data(), payload_size);
      !s.ok()) {
    return s;
  }
  return reply;
}

absl::StatusOr<RunnerReply> RunnerProcess::Call(
    const runner_protocol::RequestFrame& request, uint32_t max_reply_body) {
  // The request goes out while the runner may still be starting: the pipe
  // holds it, and start-up overlaps with the write.
  if (absl::Status sent = WriteAll(request.pieces()); !sent.ok()) return sent;
  if (!ready_) {
    absl::StatusOr<RunnerReply> hello = ReadReply(max_reply_body);
    if (!hello.ok()) return hello.status();
    if (hello->kind != runner_protocol::ReplyKind::kReady) {
      return absl::DataLossError("the runner did not say it was ready");
    }
    ready_ = true;
  }
  absl::StatusOr<RunnerReply> reply = ReadReply(max_reply_body);
  if (reply.ok() && reply->kind == runner_protocol::ReplyKind::kReady) {
    return absl::DataLossError("the runner said it was ready twice");
  }
  return reply;
}

void RunnerProcess::Kill() {
  PidfdSendSignal(child_.pidfd, SIGKILL);
  kill(-child_.pid, SIGKILL);
}

int RunnerProcess::Wait() {
  if (reaped_) return -1;
  // Until the runner is reaped its pid, and so its process group id, cannot
  // be reused: killing the group cannot hit a stranger.
  Kill();
  int status = 0;
  pid_t got;
  while ((got = waitpid(child_.pid, &status, 0)) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return got == child_.pid ? status : -1;
}

std::string DescribeWaitStatus(int status) {
  if (status == -1) {
    return "runner process ended (its exit status is unknown: the worker "
           "ignores SIGCHLD)";
  }
  if (WIFEXITED(status)) {
    return absl::StrCat("runner process exited with status ",
                        WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    const int signo = WTERMSIG(status);
    const char* name = sigabbrev_np(signo);
    return absl::StrCat("runner process killed by signal ", signo,
                        name != nullptr ? absl::StrCat(" (SIG", name, ")") : "",
                        WCOREDUMP(status) ? ", core dumped" : "");
  }
  return absl::StrCat("runner process ended with wait status ", status);
}

}  // namespace tq
