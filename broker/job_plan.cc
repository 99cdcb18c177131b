#include "broker/job_plan.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/protocol.h"
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

namespace {

absl::Status CheckCodeSpec(const v1::SubmitJob& submit) {
  const v1::CodeSpec& code = submit.code();
  if (!submit.task().empty()) {
    return absl::InvalidArgumentError(
        "a job runs either a task or shipped code, not both");
  }
  if (code.runtime().empty()) {
    return absl::InvalidArgumentError("the code job names no runtime");
  }
  if (code.function_sha256().size() != 32) {
    return absl::InvalidArgumentError(
        "the code job's function_sha256 is not a 32-byte SHA-256");
  }
  if (!code.initializer_sha256().empty() &&
      code.initializer_sha256().size() != 32) {
    return absl::InvalidArgumentError(
        "the code job's initializer_sha256 is not a 32-byte SHA-256");
  }
  if (submit.reduction() != v1::REDUCTION_NONE) {
    return absl::InvalidArgumentError("a code job cannot use a reduction");
  }
  if (!submit.params().empty()) {
    return absl::InvalidArgumentError("a code job takes no task parameters");
  }
  if (!submit.has_stream()) {
    return absl::InvalidArgumentError(
        "a code job's input must be streamed chunks");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<JobPlan> PlanJob(const v1::SubmitJob& submit,
                                const TaskRegistry& registry,
                                uint32_t max_result_window) {
  JobPlan plan;
  if (submit.result_window() < 1) {
    return absl::InvalidArgumentError("result_window must be at least 1");
  }
  plan.max_window = std::max(1u, max_result_window);
  plan.window = std::min(submit.result_window(), plan.max_window);
  if (submit.has_code()) {
    TQ_RETURN_IF_ERROR(CheckCodeSpec(submit));
    plan.streamed = true;
    plan.encoding = v1::ITEM_ENCODING_PICKLE;
    plan.max_chunk_items = std::numeric_limits<uint64_t>::max();
    plan.min_chunk_items = 1;
    if (submit.stream().encoding() != v1::ITEM_ENCODING_UNSPECIFIED &&
        submit.stream().encoding() != plan.encoding) {
      return absl::InvalidArgumentError(
          "a code job's items must be encoded as pickles");
    }
    return plan;
  }

  TQ_ASSIGN_OR_RETURN(plan.task, registry.Lookup(submit.task()));
  size_t params_bytes = 0;
  for (const auto& [key, value] : submit.params()) {
    params_bytes += key.size() + value.size();
  }
  if (params_bytes > kMaxParamsBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task parameters of ", params_bytes, " bytes; at most ",
        kMaxParamsBytes, " are allowed"));
  }
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

  const uint64_t max_chunk = plan.task->sizing(submit.reduction()).max_items;
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
    case v1::SubmitJob::kStream:
      if (submit.stream().encoding() != v1::ITEM_ENCODING_U64LE) {
        return absl::InvalidArgumentError(
            "a task's streamed items must be encoded as 8-byte numbers (U64LE)");
      }
      plan.streamed = true;
      plan.encoding = v1::ITEM_ENCODING_U64LE;
      plan.max_chunk_items = std::min(max_chunk, kMaxListChunkItems);
      plan.min_chunk_items = 1;
      return plan;
    case v1::SubmitJob::INPUT_NOT_SET:
      return absl::InvalidArgumentError("the job has no input (range or stream)");
  }

  const ChunkSizing sizing = plan.task->sizing(submit.reduction());
  plan.min_chunk_items = std::max<uint64_t>(1, sizing.min_items);
  plan.max_chunk_items = std::max<uint64_t>(1, max_chunk);
  if (submit.chunk_size() == 0) return plan;  // sized as the job runs
  if (submit.chunk_size() > max_chunk) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk_size ", submit.chunk_size(), " exceeds the limit of ",
        max_chunk, " items for task '", submit.task(), "'"));
  }
  plan.chunk_size = submit.chunk_size();
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
