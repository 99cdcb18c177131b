// `crash`: a test-only task for poison-item tests. Returns each item
// unchanged (like `noop`) except the items named by the parameter "items"
// (comma-separated numbers, e.g. items=777,1234), on which it does what
// "mode" says:
//   abort  the process dies by SIGABRT (a worker crash);
//   throw  the chunk fails with an error naming the item (kInternal);
//   hang   it never returns and ignores cancellation (a wedged kernel: the
//          worker's run limit catches it and the worker restarts itself).
// Default mode: throw. Test-only (Task::test_only): a worker offers it only
// when started with --enable-test-tasks.
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tasks/item_input.h"
#include "tasks/task.h"

namespace tq {
namespace {

enum class CrashMode { kAbort, kThrow, kHang };

struct CrashParams {
  absl::flat_hash_set<uint64_t> items;
  CrashMode mode = CrashMode::kThrow;
};

// At most this many poison items: a test names a few.
constexpr size_t kMaxPoisonItems = 1024;

absl::StatusOr<CrashParams> ParseCrashParams(const TaskParams& params) {
  CrashParams parsed;
  for (const auto& [key, value] : params) {
    if (key == "items") {
      for (absl::string_view part :
           absl::StrSplit(value, ',', absl::SkipEmpty())) {
        uint64_t item = 0;
        if (!absl::SimpleAtoi(part, &item) || part.empty() || part[0] == '+' ||
            part[0] == '-' || part[0] == ' ') {
          return absl::InvalidArgumentError(absl::StrCat(
              "task 'crash' parameter 'items' must be comma-separated "
              "numbers, got '",
              value, "'"));
        }
        parsed.items.insert(item);
      }
      if (parsed.items.size() > kMaxPoisonItems) {
        return absl::InvalidArgumentError(
            absl::StrCat("task 'crash' parameter 'items' names more than ",
                         kMaxPoisonItems, " items"));
      }
    } else if (key == "mode") {
      if (value == "abort") {
        parsed.mode = CrashMode::kAbort;
      } else if (value == "throw") {
        parsed.mode = CrashMode::kThrow;
      } else if (value == "hang") {
        parsed.mode = CrashMode::kHang;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "task 'crash' parameter 'mode' must be abort, throw or hang, got '",
            value, "'"));
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("task 'crash' has no parameter '", key,
                       "' (it takes 'items', 'mode')"));
    }
  }
  return parsed;
}

// Never returns. Naps rather than burning a core: to its worker a sleeping
// kernel that ignores cancellation is as stuck as a spinning one, and tests
// share the machine.
[[noreturn]] void HangForever() {
  for (;;) {
    timespec nap = {0, 1'000'000};
    nanosleep(&nap, nullptr);
  }
}

class CrashTask : public Task {
 public:
  absl::string_view name() const override { return "crash"; }
  absl::string_view description() const override {
    return "test only: returns each item, but aborts, fails or hangs on the "
           "items named by 'items' (mode=abort|throw|hang)";
  }
  ResultShape shape() const override { return ResultShape::kValue; }
  ChunkSizing sizing(v1::Reduction) const override { return {1, 1 << 16}; }
  bool test_only() const override { return true; }
  absl::Status ValidateParams(const TaskParams& params) const override {
    return ParseCrashParams(params).status();
  }

  absl::Status Compute(const TaskInput& input, uint64_t,
                       const TaskParams& params, v1::Reduction,
                       const CancelToken& cancel,
                       v1::ChunkOutput* output) const override {
    const CrashParams crash = *ParseCrashParams(params);  // Run validated
    auto* values = output->mutable_values()->mutable_values();
    absl::Status failed;
    const bool finished = ForEachItemUnlessCancelled(
        input, cancel, uint64_t{1} << 12, [&](uint64_t n) {
          if (!failed.ok()) return;
          if (crash.items.contains(n)) {
            switch (crash.mode) {
              case CrashMode::kAbort:
                fprintf(stderr, "tq: task 'crash' aborts on item %llu\n",
                        static_cast<unsigned long long>(n));
                abort();
              case CrashMode::kHang:
                HangForever();
              case CrashMode::kThrow:
                failed = absl::InternalError(
                    absl::StrCat("task 'crash' fails on item ", n));
                return;
            }
          }
          values->Add(n);
        });
    if (!failed.ok()) return failed;
    if (!finished) return CancelledStatus();
    return absl::OkStatus();
  }
};

TQ_REGISTER_TASK(CrashTask);

}  // namespace
}  // namespace tq
