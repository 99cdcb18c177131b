// Runs a real tq binary as a child process for multi-process tests: captures
// stdout and stderr on reader threads (so a chatty child never blocks on a
// full pipe), and waits for output or exit only up to a deadline. The child
// is killed if the thread that started it (the test's main thread) dies.
#ifndef TQ_TESTS_INTEGRATION_SUBPROCESS_H_
#define TQ_TESTS_INTEGRATION_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace tq::testing {

using Clock = std::chrono::steady_clock;

struct ExitStatus {
  bool exited = false;  // false: killed by a signal
  int code = -1;        // exit code, or the signal number
};

class Subprocess {
 public:
  // Starts argv[0] (a path) with argv; `stdin_data` is written to its stdin
  // then closed. Aborts the test binary if fork itself fails; an exec failure
  // is the child's exit code 127.
  explicit Subprocess(std::vector<std::string> argv,
                      std::vector<std::string> extra_env = {},
                      std::string stdin_data = "");
  ~Subprocess();  // SIGKILLs a child still running, joins readers
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signo);

  // Waits until stdout holds a line starting with `prefix`; returns the rest
  // of that line, or nullopt at the deadline.
  std::optional<std::string> WaitForStdoutLine(const std::string& prefix,
                                               Clock::duration timeout);
  // Waits until stderr contains `text`.
  bool WaitForStderrText(const std::string& text, Clock::duration timeout);
  // Waits until stdout holds at least `bytes` bytes.
  bool WaitForStdoutBytes(size_t bytes, Clock::duration timeout);
  // Waits for the child to exit and for its stdout and stderr to be read to
  // the end; nullopt at the deadline (child left running).
  std::optional<ExitStatus> Wait(Clock::duration timeout);

  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  void ReadInto(int fd, std::string* sink, bool* closed);

  // A child printing more than this is killed: a runaway child must fail its
  // test, not exhaust the machine's memory.
  static constexpr size_t kMaxCapturedBytes = 256 << 20;

  std::string name_;  // argv[0] and args, for messages
  pid_t pid_ = -1;
  std::optional<ExitStatus> exit_;
  std::thread stdout_reader_, stderr_reader_, stdin_writer_;
  mutable absl::Mutex mu_;
  std::string stdout_ ABSL_GUARDED_BY(mu_);
  std::string stderr_ ABSL_GUARDED_BY(mu_);
  bool stdout_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stderr_closed_ ABSL_GUARDED_BY(mu_) = false;
};

// Path of a built binary, from the compile definitions set in CMake.
std::string BrokerBinary();
std::string WorkerBinary();
std::string ClientBinary();

}  // namespace tq::testing

#endif  // TQ_TESTS_INTEGRATION_SUBPROCESS_H_
