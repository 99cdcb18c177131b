// How a runner process is started, decided once when the runners are
// created: the interpreter's path, argv, environment, working directory and
// the user to switch to. Everything is prepared up front because the child
// of a multi-threaded process may only make async-signal-safe calls between
// fork and exec: no allocation, no getpwnam, no PATH search.
#ifndef TQ_WORKER_RUNNERS_RUNNER_LAUNCH_H_
#define TQ_WORKER_RUNNERS_RUNNER_LAUNCH_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/runners/python_runners_options.h"

namespace tq {

// The user runners switch to (PythonRunnersOptions::code_user).
struct CodeUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, from getgrouplist
  std::string home;
};

// Looks `name` up in the passwd and group databases. kNotFound if unknown.
absl::StatusOr<CodeUser> ResolveCodeUser(const std::string& name);

// `name` if it holds a '/', else the first executable `dir/name` for dir in
// `path_list` (a PATH value). kNotFound otherwise.
absl::StatusOr<std::string> FindProgram(const std::string& name,
                                        std::string_view path_list);

// The runners' environment, "NAME=value" each: `inherited` (a null-ended
// environ) minus TQ_CURVE_* (the worker's secrets), PYTHONPATH with
// options.python_path in front, HOME, USER and LOGNAME of `user` if set,
// then options.extra_env over all of it.
std::vector<std::string> RunnerEnvironment(const char* const* inherited,
                                           const PythonRunnersOptions& options,
                                           const CodeUser* user);

// Immutable after Prepare, so any thread may read it, including a forked
// child. Neither copyable nor movable: argv() and envp() point into it.
class RunnerLaunch {
 public:
  // Resolves the program and the code user, and snapshots the environment.
  // Errors name the option at fault.
  static absl::StatusOr<std::unique_ptr<const RunnerLaunch>> Prepare(
      const PythonRunnersOptions& options);
  RunnerLaunch(const RunnerLaunch&) = delete;
  RunnerLaunch& operator=(const RunnerLaunch&) = delete;

  const char* program() const { return program_.c_str(); }
  char* const* argv() const { return argv_ptrs_.data(); }
  char* const* envp() const { return env_ptrs_.data(); }
  // nullptr: stay in the worker's working directory.
  const char* working_directory() const {
    return cwd_.empty() ? nullptr : cwd_.c_str();
  }
  // nullptr: run as the worker's user.
  const CodeUser* user() const { return user_ ? &*user_ : nullptr; }
  // The command line, for messages: "/usr/bin/python3 -m tq.runner".
  std::string CommandLine() const;
  const std::vector<std::string>& environment() const { return env_; }

 private:
  RunnerLaunch() = default;

  std::string program_;
  std::vector<std::string> argv_, env_;
  std::vector<char*> argv_ptrs_, env_ptrs_;
  std::string cwd_;
  std::optional<CodeUser> user_;
};

}  // namespace tq

#endif  // TQ_WORKER_RUNNERS_RUNNER_LAUNCH_H_
