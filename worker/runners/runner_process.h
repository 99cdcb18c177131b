// One runner process as the worker sees it: send a request frame, read the
// reply, notice its death, kill it, reap it. Waits are on the reply pipe and
// on a pidfd together, so a runner that dies is noticed at once even if
// something it forked still holds its pipes.
#ifndef TQ_WORKER_RUNNERS_RUNNER_PROCESS_H_
#define TQ_WORKER_RUNNERS_RUNNER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/runners/forking_thread.h"
#include "worker/runners/runner_launch.h"
#include "worker/runners/runner_protocol.h"
#include "worker/runners/runner_spawn.h"

namespace tq {

struct RunnerReply {
  runner_protocol::ReplyKind kind = runner_protocol::ReplyKind::kProtocolError;
  bool retire = false;
  uint64_t run_micros = 0;
  std::string message;
  std::string payload;
};

// Thread safety: one thread at a time uses a RunnerProcess (Call, HasExited,
// Wait), except Kill, which another thread may call while Call runs. Kill
// must not race with Wait (after Wait the pid may belong to someone else):
// PythonRunners orders them under its mutex.
class RunnerProcess {
 public:
  // Starts a runner (see SpawnRunner); returns once it has exec'd.
  static absl::StatusOr<std::unique_ptr<RunnerProcess>> Start(
      const RunnerLaunch& launch, ForkingThread& forking_thread);
  // Wraps an already started child (tests stand in for runners this way).
  explicit RunnerProcess(RunnerChild child) : child_(child) {}
  ~RunnerProcess();  // Kill and Wait unless Wait already ran
  RunnerProcess(const RunnerProcess&) = delete;
  RunnerProcess& operator=(const RunnerProcess&) = delete;

  pid_t pid() const { return child_.pid; }

  // Sends `request` and waits for the reply, without a time limit (chunks
  // run as long as they run; CancelJob and deaths end the wait).
  //   kUnavailable: the runner exited or closed its pipes (Wait tells how);
  //   kDataLoss: it sent a malformed or oversized reply (kill it).
  absl::StatusOr<RunnerReply> Call(const runner_protocol::RequestFrame& request,
                                   uint32_t max_reply_body);

  // True once the process has exited (it is not reaped). Does not block.
  bool HasExited() const;

  // SIGKILLs the runner and its process group (whatever the user's code
  // forked).
  void Kill();

  // Kills the runner, if still alive, and what is left of its process group,
  // then reaps it. Returns its wait status (a runner that had already exited
  // keeps its own), or -1 if unknown (the worker ignores SIGCHLD).
  int Wait();

  // True once the runner said it started (imports done): a runner that
  // dies before that failed to start, whatever the chunk.
  bool ready() const { return ready_; }

 private:
  absl::StatusOr<RunnerReply> ReadReply(uint32_t max_reply_body);
  absl::Status WriteAll(const std::vector<std::string_view>& pieces);
  absl::Status ReadExact(char* out, size_t size);
  // Waits for `events` on `fd`; false if the runner exited first.
  bool WaitReady(int fd, short events) const;

  RunnerChild child_;
  bool reaped_ = false;
  bool ready_ = false;
  // Reply bytes read ahead: small replies take one read().
  std::unique_ptr<char[]> buffer_;
  size_t buffer_begin_ = 0, buffer_end_ = 0;
};

// "runner process exited with status 3", "runner process killed by signal 9
// (SIGKILL)", from a wait status (-1: unknown).
std::string DescribeWaitStatus(int status);

}  // namespace tq

#endif  // TQ_WORKER_RUNNERS_RUNNER_PROCESS_H_
