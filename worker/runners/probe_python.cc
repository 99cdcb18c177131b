#include "worker/runners/probe_python.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/runners/forking_thread.h"
#include "worker/runners/runner_launch.h"
#include "worker/runners/runner_process.h"
#include "worker/runners/runner_spawn.h"

namespace tq {
namespace {

// Reports "key value" lines on fd 4, where a runner writes its replies.
constexpr char kProbeScript[] = R"py(
import os, sys
def out(key, value):
    os.write(4, ("%s %s\n" % (key, value)).encode("utf-8", "replace"))
out("version", "%d.%d" % sys.version_info[:2])
import platform
out("python", "%s %s" % (platform.python_implementation(),
                         platform.python_version()))
try:
    import cloudpickle
except BaseException as e:
    out("error-cloudpickle", "%s: %s" % (type(e).__name__, e))
    sys.exit(0)
out("cloudpickle", cloudpickle.__version__)
try:
    import tq.runner
except BaseException as e:
    out("error-runner", "%s: %s" % (type(e).__name__, e))
    sys.exit(0)
out("runner", tq.runner.__file__)
)py";

}  // namespace

absl::StatusOr<PythonInfo> ProbePython(const PythonRunnersOptions& options,
                                       std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + timeout;
  PythonRunnersOptions probe = options;
  probe.runner_argv = {options.python, "-c", kProbeScript};
  absl::StatusOr<std::unique_ptr<const RunnerLaunch>> launch =
      RunnerLaunch::Prepare(probe);
  if (!launch.ok()) return launch.status();
  const std::string& python = options.python;

  ForkingThread forking_thread;
  absl::StatusOr<RunnerChild> child = SpawnRunner(**launch, forking_thread);
  if (!child.ok()) {
    return absl::Status(child.status().code(),
                        absl::StrCat(python, ": ", child.status().message()));
  }
  RunnerProcess process(*child);  // kills and reaps it on every path

  // Read to EOF (the probe exits) or the deadline.
  std::string output;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat(python, ": no answer within ", timeout.count(), " ms"));
    }
    pollfd fd = {child->reply_fd, POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", errno));
    }
    char buffer[4096];
    ssize_t got = read(child->reply_fd, buffer, sizeof buffer);
    if (got > 0) {
      output.append(buffer, got);
    } else if (got == 0) {
      break;
    } else if (errno != EAGAIN && errno != EINTR) {
      return absl::InternalError(absl::StrCat("read: ", errno));
    }
  }
  const int status = process.Wait();

  std::map<std::string, std::string> facts;
  size_t start = 0;
  while (start < output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    const std::string line = output.substr(start, end - start);
    const size_t space = line.find(' ');
    if (space != std::string::npos) {
      facts.emplace(line.substr(0, space), line.substr(space + 1));
    }
    start = end + 1;
  }
  if (auto it = facts.find("error-cloudpickle"); it != facts.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(python, ": cannot import cloudpickle: ", it->second,
                     " (Debian: apt install python3-cloudpickle)"));
  }
  if (auto it = facts.find("error-runner"); it != facts.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(python, ": cannot import tq.runner: ", it->second,
                     " (is the tq package on its PYTHONPATH?)"));
  }
  if (!facts.count("version") || !facts.count("python") ||
      !facts.count("cloudpickle") || !facts.count("runner")) {
    return absl::InternalError(absl::StrCat(python, ": the probe failed (",
                                            DescribeWaitStatus(status),
                                            "; see the worker's stderr)"));
  }
  return PythonInfo{
      facts["version"],
      absl::StrCat(facts["python"], ", cloudpickle ", facts["cloudpickle"])};
}

}  // namespace tq
