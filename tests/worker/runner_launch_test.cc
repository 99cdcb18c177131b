// How runners are launched (runner_launch.h): the environment they get, the
// program lookup and the code user's checks. No process is started.
#include "worker/runners/runner_launch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace tq {
namespace {

TEST(RunnerLaunchTest, EnvironmentDropsSecretsAndPrependsPythonPath) {
  const char* inherited[] = {"A=1", "TQ_CURVE_SECRET_KEY=s", "PYTHONPATH=/old",
                             "HOME=/root", nullptr};
  PythonRunnersOptions options;
  options.python_path = {"/new"};
  options.extra_env = {"A=2", "B=3"};
  CodeUser nobody{"nobody", 65534, 65534, {65534}, "/nonexistent"};
  std::vector<std::string> env = RunnerEnvironment(inherited, options, &nobody);
  std::sort(env.begin(), env.end());
  EXPECT_EQ(env, (std::vector<std::string>{
                     "A=2", "B=3", "HOME=/nonexistent", "LOGNAME=nobody",
                     "PYTHONPATH=/new:/old", "USER=nobody"}));
}

TEST(RunnerLaunchTest, FindsProgramsInPath) {
  EXPECT_EQ(FindProgram("sh", "/nonexistent::/bin").value_or(""), "/bin/sh");
  EXPECT_TRUE(absl::IsNotFound(FindProgram("tq-no-such", "/bin").status()));
}

TEST(RunnerLaunchTest, CodeUserMustExistAndNotBeRoot) {
  EXPECT_TRUE(absl::IsNotFound(ResolveCodeUser("tq-no-such-user").status()));
  PythonRunnersOptions options;
  options.python = "/bin/sh";
  options.code_user = "root";
  EXPECT_TRUE(absl::IsInvalidArgument(RunnerLaunch::Prepare(options).status()));
  options.code_user = "tq-no-such-user";
  EXPECT_TRUE(absl::IsNotFound(RunnerLaunch::Prepare(options).status()));
}

TEST(RunnerLaunchTest, DefaultCommandIsTheInterpreterRunningTqRunner) {
  PythonRunnersOptions options;
  options.python = "sh";  // found in PATH, made absolute
  absl::StatusOr<std::unique_ptr<const RunnerLaunch>> launch =
      RunnerLaunch::Prepare(options);
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_EQ((*launch)->CommandLine().rfind("/", 0), 0u);
  EXPECT_NE((*launch)->CommandLine().find("sh -m tq.runner"),
            std::string::npos);
  EXPECT_EQ((*launch)->working_directory(), nullptr);
  EXPECT_EQ((*launch)->user(), nullptr);
}

}  // namespace
}  // namespace tq
