#include "tests/worker/python_test_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "tests/client/child_process.h"

namespace tq::testing {

ScopedTempDir::ScopedTempDir() {
  char path[] = "/tmp/tq_runners_test_XXXXXX";
  if (mkdtemp(path) == nullptr) ADD_FAILURE() << "mkdtemp failed";
  path_ = path;
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string RunPython(const std::string& code, const std::string& stdin_data) {
  ChildProcess python({kPython, "-c", code},
                      {"PATH=/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1",
                       std::string("PYTHONPATH=") + TQ_PYTHON_SOURCE_DIR},
                      stdin_data);
  const int status = python.Finish(std::chrono::seconds(60));
  if (status != 0) {
    ADD_FAILURE() << kPython << " -c failed (" << status << "):\n"
                  << code << "\n"
                  << python.err();
    return "";
  }
  return python.out();
}

CodeBlob PickleCode(const std::string& definitions, const std::string& expr) {
  const std::string out =
      RunPython(definitions +
                "\nimport cloudpickle as _cp, hashlib as _h, sys as _s\n"
                "_b = _cp.dumps(" +
                expr +
                ")\n"
                "_s.stdout.buffer.write(_h.sha256(_b).digest() + _b)\n");
  if (out.size() < 32) return {};
  return CodeBlob{out.substr(0, 32),
                  std::make_shared<const std::string>(out.substr(32))};
}

std::string PickleValue(const std::string& expr) {
  return RunPython("import pickle, sys\nsys.stdout.buffer.write(pickle.dumps(" +
                   expr + "))\n");
}

std::string Unpickle(const std::string& pickle, const std::string& expr) {
  std::string out = RunPython(
      "import pickle, sys\nv = pickle.loads(sys.stdin.buffer.read())\n"
      "sys.stdout.write(str(" +
          expr + "))\n",
      pickle);
  return out;
}

PythonRunnersOptions TestOptions(int max_runners) {
  PythonRunnersOptions options;
  options.python = kPython;
  options.python_path = {TQ_PYTHON_SOURCE_DIR};
  options.extra_env = {"PYTHONDONTWRITEBYTECODE=1"};
  options.max_runners = max_runners;
  return options;
}

PythonChunk RangeChunk(const std::string& owner, const CodeBlob& function,
                       uint64_t first, uint64_t last, uint64_t job_id) {
  PythonChunk chunk;
  chunk.job_id = job_id;
  chunk.owner = owner;
  chunk.function = function;
  chunk.items = IntRangeItems{first, last};
  return chunk;
}

}  // namespace tq::testing
