// Checks, once at worker start-up, that the configured interpreter can run
// runners: learns its major.minor (clients must match it) and cloudpickle's
// version, and that tq.runner imports. It runs the interpreter exactly as a
// runner would be run (same environment, user and working directory).
#ifndef TQ_WORKER_RUNNERS_PROBE_PYTHON_H_
#define TQ_WORKER_RUNNERS_PROBE_PYTHON_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "worker/runners/python_runners_options.h"

namespace tq {

struct PythonInfo {
  std::string version;  // major.minor, e.g. "3.11"
  std::string detail;   // e.g. "CPython 3.11.2, cloudpickle 2.2.0"
};

// Runs options.python once. Errors start with the interpreter and say what
// to do: kNotFound ("/usr/bin/python9: not found"), kFailedPrecondition
// ("/usr/bin/python3: cannot import cloudpickle: ... (Debian: apt install
// python3-cloudpickle)", "... cannot import tq.runner: ..."),
// kDeadlineExceeded, kInternal (it crashed). Thread-safe.
absl::StatusOr<PythonInfo> ProbePython(
    const PythonRunnersOptions& options,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace tq

#endif  // TQ_WORKER_RUNNERS_PROBE_PYTHON_H_
