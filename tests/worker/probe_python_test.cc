// ProbePython with the real /usr/bin/python3: what it reports, and its
// errors for a missing interpreter, cloudpickle or tq package.
#include "worker/runners/probe_python.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/worker/python_test_util.h"

namespace tq {
namespace {

using testing::ScopedTempDir;
using testing::TestOptions;

TEST(ProbePythonTest, ReportsVersionAndCloudpickle) {
  absl::StatusOr<PythonInfo> info = ProbePython(TestOptions(1));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->version.rfind("3.", 0), 0u) << info->version;
  EXPECT_EQ(info->detail.rfind("CPython " + info->version + ".", 0), 0u)
      << info->detail;
  EXPECT_NE(info->detail.find(", cloudpickle "), std::string::npos);
  std::printf("probe: %s (%s)\n", info->version.c_str(), info->detail.c_str());
}

TEST(ProbePythonTest, NonexistentInterpreterIsNotFound) {
  PythonRunnersOptions options = TestOptions(1);
  options.python = "/nonexistent/python3";
  absl::StatusOr<PythonInfo> info = ProbePython(options);
  EXPECT_TRUE(absl::IsNotFound(info.status())) << info.status();
  EXPECT_EQ(info.status().message(), "/nonexistent/python3: not found");
}

TEST(ProbePythonTest, MissingCloudpickleSaysHowToInstallIt) {
  // -S: no site-packages, so no cloudpickle.
  ScopedTempDir temp;
  const std::string wrapper = temp.path() + "/python-without-site";
  std::ofstream(wrapper) << "#!/bin/sh\nexec " << testing::kPython
                         << " -S \"$@\"\n";
  chmod(wrapper.c_str(), 0755);
  PythonRunnersOptions options = TestOptions(1);
  options.python = wrapper;
  absl::StatusOr<PythonInfo> info = ProbePython(options);
  EXPECT_TRUE(absl::IsFailedPrecondition(info.status())) << info.status();
  EXPECT_EQ(info.status().message(),
            wrapper +
                ": cannot import cloudpickle: ModuleNotFoundError: No "
                "module named 'cloudpickle' (Debian: apt install "
                "python3-cloudpickle)");
}

TEST(ProbePythonTest, MissingTqPackageIsReported) {
  // A tq package without tq.runner first on the path: the interpreter's own
  // tq (README command 1 installs one into dist-packages) stays out of it.
  ScopedTempDir temp;
  mkdir((temp.path() + "/tq").c_str(), 0755);
  std::ofstream(temp.path() + "/tq/__init__.py") << "";
  PythonRunnersOptions options = TestOptions(1);
  options.python_path.clear();
  options.extra_env.push_back("PYTHONPATH=" + temp.path());
  absl::StatusOr<PythonInfo> info = ProbePython(options);
  EXPECT_TRUE(absl::IsFailedPrecondition(info.status())) << info.status();
  EXPECT_NE(info.status().message().find(
                "cannot import tq.runner: ModuleNotFoundError: No module "
                "named 'tq.runner'"),
            std::string::npos)
      << info.status();
  EXPECT_NE(info.status().message().find("(is the tq package on its "
                                         "PYTHONPATH?)"),
            std::string::npos);
}

}  // namespace
}  // namespace tq
