// What a worker asks a Python runner to do (PythonChunk) and what comes back
// (PythonOutcome): plain data, no behaviour. PythonRunners (python_runners.h)
// turns one into the other in a long-lived `python -m tq.runner` process.
#ifndef TQ_WORKER_RUNNERS_PYTHON_CHUNK_H_
#define TQ_WORKER_RUNNERS_PYTHON_CHUNK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace tq {

// How each item becomes a call, as in multiprocessing.Pool:
//   kMap:   f(x)                       (map, imap)
//   kStar:  f(*x)                      (starmap)
//   kApply: x = (args, kwargs): f(*args, **kwargs)   (apply_async batches)
enum class PythonCallStyle : uint8_t { kMap = 0, kStar = 1, kApply = 2 };

// A piece of pickled code and its identity. Runners cache code by sha256, so
// equal digests must mean equal bytes.
struct CodeBlob {
  std::string sha256;                        // raw 32-byte digest of `bytes`
  std::shared_ptr<const std::string> bytes;  // the pickle; never null
};

// Items run as range(first, last + 1): first..last inclusive.
struct IntRangeItems {
  uint64_t first = 0;
  uint64_t last = 0;
};

// Items [offset, offset + count) of a pickled Python list (pickle.dumps or
// cloudpickle.dumps of a list of `size` items). count 0 = to the end; size 0
// = not checked.
struct PickledListItems {
  std::shared_ptr<const std::string> pickle;  // never null
  uint64_t size = 0;
  uint64_t offset = 0;
  uint64_t count = 0;
};

// One chunk of a job's Python code to run.
struct PythonChunk {
  uint64_t job_id = 0;
  uint64_t chunk_index = 0;
  // Whose code this is. A runner serves one owner for its whole life: code
  // of one owner never runs in a process that ran another owner's code.
  std::string owner;
  CodeBlob function;  // cloudpickle.dumps(f)
  // cloudpickle.dumps((initializer, initargs)); run once per runner process,
  // before its first chunk. A runner serves one initializer for life.
  std::optional<CodeBlob> initializer;
  PythonCallStyle call_style = PythonCallStyle::kMap;
  // multiprocessing's maxtasksperchild: a runner is retired after this many
  // chunks (0 = never).
  uint32_t max_chunks_per_runner = 0;
  std::variant<IntRangeItems, PickledListItems> items;
};

struct PythonOutcome {
  enum class Kind {
    kOk,            // `result` holds the results
    kUserError,     // the user's code (or its results) failed: report it
    kRunnerFailed,  // the runner process died or broke: retry elsewhere
    kCancelled,     // CancelJob killed the runner: drop the chunk
  };
  Kind kind = Kind::kRunnerFailed;
  // kOk: pickle.dumps(list of the results, one per item run, in order).
  std::string result;
  // kUserError: pickle.dumps(dict) with keys "exception" (bytes: the
  // exception's pickle, or b"" if it cannot be pickled), "type" (qualified
  // type name), "message" (str(exc)), "traceback" (remote traceback text),
  // "item_offset" (int: index within the items run; -1 if no item is at
  // fault), "item_repr" (str, truncated to ~200 chars; "" if no item) and
  // "stage" ("initializer", "function", "items", "call" or "result").
  std::string details;
  // One line for humans, e.g. "ValueError: bad n (item 3 of the chunk: 12)"
  // or "runner process killed by signal 11 (SIGSEGV)".
  std::string message;
  // Wall time of the chunk inside the runner, start-up excluded. 0 when the
  // runner did not answer.
  uint64_t run_micros = 0;
};

// "ok", "user error", "runner failed", "cancelled": for logs.
inline const char* PythonOutcomeKindName(PythonOutcome::Kind kind) {
  switch (kind) {
    case PythonOutcome::Kind::kOk:
      return "ok";
    case PythonOutcome::Kind::kUserError:
      return "user error";
    case PythonOutcome::Kind::kRunnerFailed:
      return "runner failed";
    case PythonOutcome::Kind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

}  // namespace tq

#endif  // TQ_WORKER_RUNNERS_PYTHON_CHUNK_H_
