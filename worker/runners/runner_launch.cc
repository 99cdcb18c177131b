#include "worker/runners/runner_launch.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace tq {
namespace {

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         access(path.c_str(), X_OK) == 0;
}

std::string_view VariableName(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

// Sets NAME=value in `env`, replacing an earlier NAME.
void SetVariable(std::vector<std::string>* env, std::string entry) {
  std::string_view name = VariableName(entry);
  for (std::string& existing : *env) {
    if (VariableName(existing) == name) {
      existing = std::move(entry);
      return;
    }
  }
  env->push_back(std::move(entry));
}

}  // namespace

absl::StatusOr<CodeUser> ResolveCodeUser(const std::string& name) {
  long size_hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size_hint > 0 ? size_hint : 16384);
  passwd entry;
  passwd* found = nullptr;
  int error;
  while ((error = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(),
                             &found)) == ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "code user '", name,
        "': ", error != 0 ? std::strerror(error) : "no such user"));
  }
  CodeUser user{name, entry.pw_uid, entry.pw_gid, {}, entry.pw_dir};
  int count = 16;
  while (true) {
    user.groups.resize(count);
    int got = count;
    if (getgrouplist(name.c_str(), user.gid, user.groups.data(), &got) >= 0) {
      user.groups.resize(got);
      break;
    }
    count = got > count ? got : count * 2;  // got: the size needed
  }
  return user;
}

absl::StatusOr<std::string> FindProgram(const std::string& name,
                                        std::string_view path_list) {
  if (name.empty()) return absl::InvalidArgumentError("empty program name");
  if (name.find('/') != std::string::npos) {
    if (IsExecutableFile(name)) return name;
    return absl::NotFoundError(absl::StrCat(name, ": not found"));
  }
  size_t start = 0;
  while (start <= path_list.size()) {
    size_t end = path_list.find(':', start);
    if (end == std::string_view::npos) end = path_list.size();
    std::string dir(path_list.substr(start, end - start));
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    if (IsExecutableFile(candidate)) return candidate;
    start = end + 1;
  }
  return absl::NotFoundError(
      absl::StrCat(name, ": not found in PATH (", std::string(path_list), ")"));
}

std::vector<std::string> RunnerEnvironment(const char* const* inherited,
                                           const PythonRunnersOptions& options,
                                           const CodeUser* user) {
  std::vector<std::string> env;
  std::string python_path;
  for (const char* const* e = inherited; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry = *e;
    if (entry.substr(0, 9) == "TQ_CURVE_") continue;
    if (VariableName(entry) == "PYTHONPATH") {
      python_path = entry.substr(sizeof("PYTHONPATH=") - 1);
      continue;
    }
    env.emplace_back(entry);
  }
  std::vector<std::string> path_parts = options.python_path;
  if (!python_path.empty()) path_parts.push_back(python_path);
  if (!path_parts.empty()) {
    env.push_back(absl::StrCat("PYTHONPATH=", absl::StrJoin(path_parts, ":")));
  }
  if (user != nullptr) {
    SetVariable(&env, absl::StrCat("HOME=", user->home));
    SetVariable(&env, absl::StrCat("USER=", user->name));
    SetVariable(&env, absl::StrCat("LOGNAME=", user->name));
  }
  for (const std::string& entry : options.extra_env) SetVariable(&env, entry);
  return env;
}

absl::StatusOr<std::unique_ptr<const RunnerLaunch>> RunnerLaunch::Prepare(
    const PythonRunnersOptions& options) {
  std::unique_ptr<RunnerLaunch> launch(new RunnerLaunch);
  launch->argv_ = options.runner_argv;
  if (launch->argv_.empty())
    launch->argv_ = {options.python, "-m", "tq.runner"};
  const char* path = std::getenv("PATH");
  absl::StatusOr<std::string> program =
      FindProgram(launch->argv_[0], path != nullptr ? path : "/usr/bin:/bin");
  if (!program.ok()) return program.status();
  launch->program_ = *std::move(program);
  // An absolute argv[0]: Python derives sys.executable from it, and user
  // code starting subprocesses with sys.executable needs the right one.
  launch->argv_[0] = launch->program_;

  if (!options.code_user.empty()) {
    absl::StatusOr<CodeUser> user = ResolveCodeUser(options.code_user);
    if (!user.ok()) return user.status();
    if (user->uid == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "code user '", user->name, "' is root: runners would gain root"));
    }
    if (geteuid() != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("code user '", user->name,
                       "': switching users needs the worker to "
                       "run as root (it runs as uid ",
                       geteuid(), ")"));
    }
    launch->user_ = *std::move(user);
  }
  launch->cwd_ = options.working_directory;
  if (launch->cwd_.empty() && launch->user_) launch->cwd_ = std::string("/");

  launch->env_ = RunnerEnvironment(environ, options, launch->user());
  for (std::string& arg : launch->argv_)
    launch->argv_ptrs_.push_back(arg.data());
  launch->argv_ptrs_.push_back(nullptr);
  for (std::string& entry : launch->env_) {
    launch->env_ptrs_.push_back(entry.data());
  }
  launch->env_ptrs_.push_back(nullptr);
  return std::unique_ptr<const RunnerLaunch>(std::move(launch));
}

std::string RunnerLaunch::CommandLine() const {
  return absl::StrJoin(argv_, " ");
}

}  // namespace tq
