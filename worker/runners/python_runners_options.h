// Options of a worker's Python runners (PythonRunners, ProbePython). Flags
// live in the worker's main; every default is stated here.
#ifndef TQ_WORKER_RUNNERS_PYTHON_RUNNERS_OPTIONS_H_
#define TQ_WORKER_RUNNERS_PYTHON_RUNNERS_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace tq {

struct PythonRunnersOptions {
  // The interpreter: a path, or a name looked up in PATH when the runners
  // are created. Its major.minor must match the clients' (cloudpickle
  // pickles code by value).
  std::string python = "python3";

  // A runner's command line; empty = {python, "-m", "tq.runner"}. argv[0]
  // is looked up in PATH like `python`. The command must speak the framing
  // of runner_protocol.h on fds 3 and 4.
  std::vector<std::string> runner_argv;

  // Directories put in front of the worker's PYTHONPATH, e.g. where an
  // embedded cluster's client has its own tq package. Empty = none.
  std::vector<std::string> python_path;

  // "NAME=value" entries set in runners' environment, over the worker's
  // (which runners inherit, minus TQ_CURVE_* secrets). Empty = none.
  std::vector<std::string> extra_env;

  // The most runner processes alive at once: the worker's pool threads, one
  // runner per thread running Python. At least 1.
  int max_runners = 1;

  // Run runners as this user (a name from the passwd database), so user code
  // cannot read what only the worker's user can (its CURVE secret key). The
  // worker must run as root; the user must not be root. Empty = runners run
  // as the worker's user.
  std::string code_user;

  // Working directory of runners. Empty = the worker's, or "/" when
  // code_user is set (the worker's may be unreadable by that user).
  std::string working_directory;

  // A chunk whose pickled results exceed this fails as a user error ("use a
  // smaller chunksize"). 16 MiB.
  uint32_t max_result_bytes = 16 << 20;
};

}  // namespace tq

#endif  // TQ_WORKER_RUNNERS_PYTHON_RUNNERS_OPTIONS_H_
