#include "broker/job_plan.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tq {
namespace {

using u128 = unsigned __int128;

// absl::StrCat has no 128-bit overload; only 2^64 itself exceeds uint64.
std::string ItemsToString(u128 n) {
  if (n > std::numeric_limits<uint64_t>::max()) return "18446744073709551616";
  return absl::StrCat(static_cast<uint64_t>(n));
}

}  // namespace

uint64_t AutoChunkSize(u128 item_count, uint64_t worker_threads,
                       const ChunkSizing& sizing, ResultShape shape) {
  const u128 divisor = u128{4} * std::max<uint64_t>(1, worker_threads);
  u128 size = (item_count + divisor - 1) / divisor;
  size = std::clamp<u128>(size, std::max<uint64_t>(1, sizing.min_items),
                          std::max<uint64_t>(1, sizing.max_items));
  uint64_t result = static_cast<uint64_t>(size);
  if (shape == ResultShape::kBool) {
    uint64_t rounded = (result + 7) / 8 * 8;
    if (rounded > sizing.max_items && sizing.max_items >= 8) {
      rounded = sizing.max_items / 8 * 8;
    }
    result = rounded;
  }
  return result;
}

absl::StatusOr<JobPlan> PlanJob(const v1::SubmitJob& submit,
                                const TaskRegistry& registry,
                                uint64_t worker_threads) {
  JobPlan plan;
  TQ_ASSIGN_OR_RETURN(plan.task, registry.Lookup(submit.task()));
  TQ_RETURN_IF_ERROR(plan.task->ValidateParams(submit.params()));

  if (submit.reduction() != v1::REDUCTION_NONE &&
      submit.reduction() != v1::REDUCTION_COUNT) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown reduction ", submit.reduction()));
  }
  if (submit.reduction() == v1::REDUCTION_COUNT &&
      plan.task->shape() != ResultShape::kBool) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reduction 'count' needs a boolean task; '", submit.task(),
        "' is not one"));
  }
  if (submit.result_window() < 1) {
    return absl::InvalidArgumentError("result_window must be at least 1");
  }

  uint64_t max_chunk = plan.task->sizing(submit.reduction()).max_items;
  switch (submit.input_case()) {
    case v1::SubmitJob::kRange: {
      const v1::Range& r = submit.range();
      if (r.first() > r.last()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "range ", r.first(), "..", r.last(),
            " is reversed (first must be <= last)"));
      }
      plan.item_count = u128{r.last() - r.first()} + 1;
      break;
    }
    case v1::SubmitJob::kItems:
      if (submit.items().values_size() == 0) {
        return absl::InvalidArgumentError("the item list is empty");
      }
      plan.item_count = static_cast<u128>(submit.items().values_size());
      max_chunk = std::min(max_chunk, kMaxListChunkItems);
      break;
    case v1::SubmitJob::INPUT_NOT_SET:
      return absl::InvalidArgumentError("the job has no input (range or items)");
  }

  if (submit.chunk_size() == 0) {
    ChunkSizing sizing = plan.task->sizing(submit.reduction());
    sizing.max_items = std::min(sizing.max_items, max_chunk);
    plan.chunk_size = AutoChunkSize(plan.item_count, worker_threads, sizing,
                                    plan.task->shape());
  } else if (submit.chunk_size() > max_chunk) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk_size ", submit.chunk_size(), " exceeds the limit of ",
        max_chunk, " items for task '", submit.task(), "'",
        submit.has_items() ? " with a list input" : ""));
  } else {
    plan.chunk_size = submit.chunk_size();
  }

  const u128 chunks = (plan.item_count + plan.chunk_size - 1) / plan.chunk_size;
  if (chunks > std::numeric_limits<uint64_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "range of ", ItemsToString(plan.item_count), " items in chunks of ",
        plan.chunk_size, " makes more than 2^64-1 chunks; use a larger chunk_size"));
  }
  plan.chunk_count = static_cast<uint64_t>(chunks);
  return plan;
}

}  // namespace tq
