// JobSpec: what to compute. A task name, its input (an inclusive range or a
// list of numbers), how to cut it into chunks and whether to reduce.
#ifndef TQ_CLIENT_JOB_SPEC_H_
#define TQ_CLIENT_JOB_SPEC_H_

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace tq {

// Inclusive range of numbers lo..hi; any uint64 values with lo <= hi, so
// 0..2^64-1 is allowed.
struct NumberRange {
  uint64_t lo = 0;
  uint64_t hi = 0;
};

enum class Reduction {
  kNone,   // one result per item
  kCount,  // boolean tasks: one count of true items per chunk
};

// Most numbers one list job may carry (keeps SubmitJob far below the 64 MiB
// message limit). Longer lists are submitted as consecutive jobs.
inline constexpr size_t kMaxListItemsPerJob = size_t{1} << 22;

struct JobSpec {
  std::string task;
  std::variant<NumberRange, std::vector<uint64_t>> input;
  // Items per chunk. Default: 0, the broker chooses from the task's sizing.
  uint64_t chunk_size = 0;
  Reduction reduction = Reduction::kNone;
  // Task parameters, e.g. {"us": "100"} for spin. Default: none.
  std::map<std::string, std::string> params;
};

}  // namespace tq

#endif  // TQ_CLIENT_JOB_SPEC_H_
