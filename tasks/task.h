// The task interface and registry. A task is a pure function applied to every
// item of a chunk; adding one is one file in tasks/ that defines a Task and
// registers it with TQ_REGISTER_TASK. Broker (validation, chunk sizing),
// worker (running) and client (decoding results) all use the same registry.
#ifndef TQ_TASKS_TASK_H_
#define TQ_TASKS_TASK_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tq/v1/tq.pb.h"

namespace tq {

using TaskParams = google::protobuf::Map<std::string, std::string>;

// The shape of one item's result, and so of ChunkOutput.
enum class ResultShape {
  kBool,       // ChunkOutput.bits; supports REDUCTION_COUNT
  kValue,      // ChunkOutput.values, one uint64 per item
  kValueList,  // ChunkOutput.lists, a list of uint64 per item
};

// The items a task computes on: every number of the inclusive range
// first..last, or a list of numbers in order. Tasks see this, never the wire
// form of a chunk's input, so the protocol can change how numbers travel.
//
// A list is a view: TaskInput neither owns nor copies the items, which must
// outlive every use of it (Task::Run reads them only during the call).
// Range(0, 2^64-1) is all of uint64, 2^64 items: one more than a uint64 count
// can hold, so counts are taken as last - first (see ItemCount). Inputs come
// from the network, so a range may be reversed and a list empty; Task::Run
// refuses both before Compute sees them. Cheap to copy; thread-compatible.
class TaskInput {
 public:
  static TaskInput Range(uint64_t first, uint64_t last) {
    return TaskInput(true, first, last, {});
  }
  static TaskInput List(absl::Span<const uint64_t> items) {
    return TaskInput(false, 0, 0, items);
  }

  bool is_range() const { return is_range_; }
  // The range's bounds, both included; 0 for a list.
  uint64_t first() const { return first_; }
  uint64_t last() const { return last_; }
  // The list's items; empty for a range.
  absl::Span<const uint64_t> items() const { return items_; }

 private:
  TaskInput(bool is_range, uint64_t first, uint64_t last,
            absl::Span<const uint64_t> items)
      : is_range_(is_range), first_(first), last_(last), items_(items) {}

  bool is_range_;
  uint64_t first_;
  uint64_t last_;
  absl::Span<const uint64_t> items_;
};

// A request to stop a running chunk early: the worker's loop thread cancels
// (the broker revoked the chunk's job, or the chunk ran past its run limit)
// while a pool thread runs the task, which polls cancelled() between blocks
// of work small enough (about a millisecond) that a cancelled chunk stops
// well within the 1 s the protocol promises, then returns kCancelled. A task
// that never polls is still correct, only slow to stop. Thread-safe.
class CancelToken {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

// Bounds the broker uses to pick a chunk size (items per chunk).
struct ChunkSizing {
  // Automatic sizes never go below this (per-chunk overhead must be hidden).
  uint64_t min_items;
  // No chunk may be larger: keeps a chunk's input and output well under
  // kMaxMessageBytes. A client asking for more gets kInvalidArgument.
  uint64_t max_items;
};

class Task {
 public:
  virtual ~Task() = default;

  virtual absl::string_view name() const = 0;
  // One line for `--help` and error messages.
  virtual absl::string_view description() const = 0;
  virtual ResultShape shape() const = 0;
  virtual ChunkSizing sizing(v1::Reduction reduction) const = 0;
  // Test-only tasks (e.g. `crash`, which can kill its worker on purpose)
  // are left out of Names() and so out of what clusters offer; a worker
  // offers and runs them only when started with --enable-test-tasks.
  virtual bool test_only() const { return false; }

  // Checks parameters at submit time: unknown keys or bad values are
  // kInvalidArgument naming the parameter.
  virtual absl::Status ValidateParams(const TaskParams& params) const = 0;

  // Computes `input` into `output`. Checks first what every task needs
  // checked, since chunks arrive over the network: the parameters
  // (ValidateParams), the reduction (REDUCTION_COUNT only for kBool tasks),
  // and the item count (1 ..= sizing(reduction).max_items); then calls
  // Compute. On error `output` is left empty. Thread-safe: pool threads call
  // it concurrently. Input problems are kInvalidArgument; never crashes.
  // `cancel` (nullptr: never cancelled) set during the call makes it return
  // kCancelled soon (see CancelToken).
  absl::Status Run(const TaskInput& input, const TaskParams& params,
                   v1::Reduction reduction, v1::ChunkOutput* output,
                   const CancelToken* cancel = nullptr) const;

 protected:
  // The task's own work, after Run's checks; `items` is the item count.
  // `output` arrives empty. Polls `cancel` between blocks of work and
  // returns CancelledStatus() once it is set.
  virtual absl::Status Compute(const TaskInput& input, uint64_t items,
                               const TaskParams& params,
                               v1::Reduction reduction,
                               const CancelToken& cancel,
                               v1::ChunkOutput* output) const = 0;
  // kCancelled naming this task.
  absl::Status CancelledStatus() const;
};

class TaskRegistry {
 public:
  // Takes ownership. Registering a name twice aborts (a programming error).
  void Register(std::unique_ptr<Task> task);
  // nullptr if absent.
  const Task* Find(absl::string_view name) const;
  // kNotFound "unknown task 'x'; this cluster offers: factor, noop, ...".
  absl::StatusOr<const Task*> Lookup(absl::string_view name) const;
  // Sorted; without test-only tasks unless `with_test_only`.
  std::vector<std::string> Names(bool with_test_only = false) const;

 private:
  std::vector<std::unique_ptr<Task>> tasks_;
};

// The registry holding every built-in task. Thread-safe after first use.
TaskRegistry& BuiltinTasks();

// In a task's .cc file: TQ_REGISTER_TASK(PrimesTask);
#define TQ_REGISTER_TASK(TaskClass)                                   \
  static const bool tq_registered_##TaskClass = [] {                  \
    ::tq::BuiltinTasks().Register(std::make_unique<TaskClass>());    \
    return true;                                                      \
  }()

}  // namespace tq

#endif  // TQ_TASKS_TASK_H_
