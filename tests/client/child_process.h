// ChildProcess: runs a binary for CLI tests with stdin fed from a string and
// stdout/stderr captured. One thread, poll() on the pipes: every wait has a
// deadline, and output is complete once the child has exited (both pipes
// read to EOF).
#ifndef TQ_TESTS_CLIENT_CHILD_PROCESS_H_
#define TQ_TESTS_CLIENT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tq {

class ChildProcess {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts argv[0] with `env` (not the test's environment) and stdin_data
  // as its whole stdin.
  ChildProcess(const std::vector<std::string>& argv,
               const std::vector<std::string>& env,
               const std::string& stdin_data = "");
  ~ChildProcess();  // SIGKILLs and reaps a child still running

  // Reads output until `done()` holds or the deadline passes; returns done().
  bool ReadUntil(const std::function<bool()>& done, Clock::duration timeout);
  // Reads to EOF and reaps the child. Returns the exit code, 128+signal if
  // killed, or -1 at the deadline (the child is then killed).
  int Finish(Clock::duration timeout);
  void Signal(int signo);

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  // One poll round of at most `timeout_ms`; false once both pipes hit EOF.
  bool PumpOnce(int timeout_ms);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
};

}  // namespace tq

#endif  // TQ_TESTS_CLIENT_CHILD_PROCESS_H_
