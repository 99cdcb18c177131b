#include "worker/chunk_runner.h"

#include <chrono>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/protocol.h"
#include "common/wheel_bits.h"

namespace tq {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "U64LE payloads are read with memcpy: a little-endian host");

absl::Status RunTask(const TaskRegistry& registry, const ChunkWork& work,
                     bool allow_test_tasks, v1::ChunkOutput* output) {
  const v1::Assignment& assignment = work.assignment;
  absl::StatusOr<const Task*> task = registry.Lookup(assignment.task());
  if (!task.ok()) return task.status();
  if ((*task)->test_only() && !allow_test_tasks) {
    return absl::FailedPreconditionError(absl::StrCat(
        "task '", assignment.task(),
        "' is test-only and this worker was not started with "
        "--enable-test-tasks"));
  }
  const CancelToken* cancel = work.cancel.get();
  const v1::ChunkInput& input = assignment.input();
  switch (input.input_case()) {
    case v1::ChunkInput::kRange:
      return (*task)->Run(TaskInput::Range(input.range().first(),
                                           input.range().last()),
                          assignment.params(), assignment.reduction(), output,
                          cancel);
    case v1::ChunkInput::kPayload: {
      if (input.encoding() != v1::ITEM_ENCODING_U64LE) {
        return absl::InvalidArgumentError(absl::StrCat(
            "task '", assignment.task(), "' takes 8-byte numbers, not encoding ",
            input.encoding()));
      }
      absl::StatusOr<std::vector<uint64_t>> numbers =
          DecodeNumbers(work.input, input);
      if (!numbers.ok()) return numbers.status();
      return (*task)->Run(TaskInput::List(*numbers), assignment.params(),
                          assignment.reduction(), output, cancel);
    }
    case v1::ChunkInput::INPUT_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("the chunk has no input");
}

// A task may answer in a compact encoding (ChunkOutput.prime_wheel); a
// client that did not ask for it (an older one) gets plain bits.
void PlainBitsUnlessCompact(const v1::Assignment& assignment,
                            v1::ChunkOutput* output) {
  if (output->output_case() != v1::ChunkOutput::kPrimeWheel ||
      assignment.compact_results()) {
    return;
  }
  const uint64_t first = assignment.input().range().first();
  const uint64_t last = assignment.input().range().last();
  std::string wheel = std::move(*output->mutable_prime_wheel());
  std::string* bits = output->mutable_bits();
  bits->resize((last - first) / 8 + 1);
  WheelToBits(reinterpret_cast<const uint8_t*>(wheel.data()), first, last,
              reinterpret_cast<uint8_t*>(bits->data()));
}

}  // namespace

absl::StatusOr<std::vector<uint64_t>> DecodeNumbers(
    const Payload& payload, const v1::ChunkInput& input) {
  const uint64_t total = input.item_count();
  if (payload.size() != total * 8 || total == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("a payload of ", payload.size(), " bytes cannot hold ",
                     total, " 8-byte numbers"));
  }
  const uint64_t offset = input.offset();
  const uint64_t count = input.count() == 0 ? total - std::min(offset, total)
                                            : input.count();
  if (offset >= total || count > total - offset) {
    return absl::InvalidArgumentError(
        absl::StrCat("items ", offset, "..+", count, " are beyond the ",
                     total, " the payload holds"));
  }
  std::vector<uint64_t> numbers(count);
  uint64_t skip = offset * 8;
  char* out = reinterpret_cast<char*>(numbers.data());
  uint64_t want = count * 8;
  for (const PayloadFrame& frame : payload.frames()) {
    if (want == 0) break;
    if (skip >= frame.size) {
      skip -= frame.size;
      continue;
    }
    const uint64_t n = std::min<uint64_t>(frame.size - skip, want);
    std::memcpy(out, frame.data + skip, n);
    out += n;
    want -= n;
    skip = 0;
  }
  return numbers;
}

ChunkDone RunTaskChunk(const TaskRegistry& registry, const ChunkWork& work,
                       bool allow_test_tasks) {
  const v1::Assignment& assignment = work.assignment;
  ChunkDone done;
  done.report.set_job_id(assignment.job_id());
  done.report.set_chunk_index(assignment.chunk_index());
  done.report.set_attempt(assignment.attempt());
  const auto start = std::chrono::steady_clock::now();
  v1::ChunkOutput output;
  absl::Status status = RunTask(registry, work, allow_test_tasks, &output);
  if (status.ok()) PlainBitsUnlessCompact(assignment, &output);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  done.report.set_run_micros(
      std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  if (status.ok()) {
    done.result = Payload::FromString(output.SerializeAsString());
  } else {
    *done.report.mutable_error() = ErrorFromStatus(status, assignment.job_id());
  }
  return done;
}

}  // namespace tq
