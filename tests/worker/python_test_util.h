// Helpers for tests of Python runners: pickles made by a real
// /usr/bin/python3 with cloudpickle (functions defined in `python -c`
// code live in __main__, so cloudpickle pickles them by value, as a
// client's would be), pickles read back into reprs, and chunk builders.
#ifndef TQ_TESTS_WORKER_PYTHON_TEST_UTIL_H_
#define TQ_TESTS_WORKER_PYTHON_TEST_UTIL_H_

#include <cstdint>
#include <string>

#include "worker/runners/python_chunk.h"
#include "worker/runners/python_runners_options.h"

namespace tq::testing {

inline constexpr char kPython[] = "/usr/bin/python3";

// A fresh directory under /tmp, removed with its contents at scope exit.
class ScopedTempDir {
 public:
  ScopedTempDir();
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs `kPython -c code` with `stdin_data`; returns its stdout. A failure
// or a run over 60 s fails the test (ADD_FAILURE) and returns "".
std::string RunPython(const std::string& code,
                      const std::string& stdin_data = "");

// cloudpickle.dumps(<expr>) after running `definitions`, with its sha256.
CodeBlob PickleCode(const std::string& definitions, const std::string& expr);

// pickle.dumps(<expr>), e.g. of a list of items.
std::string PickleValue(const std::string& expr);

// Loads `pickle` as `v` and returns str(<expr>), e.g. "repr(v)".
std::string Unpickle(const std::string& pickle,
                     const std::string& expr = "repr(v)");

// Runners on kPython that import tq.runner from the source tree.
PythonRunnersOptions TestOptions(int max_runners);

// A chunk of job `job_id` calling `function` on first..last.
PythonChunk RangeChunk(const std::string& owner, const CodeBlob& function,
                       uint64_t first, uint64_t last, uint64_t job_id = 1);

}  // namespace tq::testing

#endif  // TQ_TESTS_WORKER_PYTHON_TEST_UTIL_H_
