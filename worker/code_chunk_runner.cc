#include "worker/code_chunk_runner.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/protocol.h"

namespace tq {
namespace {

// Flattened blobs kept: the runners' own function cache holds as many.
constexpr size_t kFlatBlobs = 32;

absl::StatusOr<PythonChunk> ToPythonChunk(const ChunkWork& work) {
  const v1::Assignment& a = work.assignment;
  PythonChunk chunk;
  chunk.job_id = a.job_id();
  chunk.chunk_index = a.chunk_index();
  chunk.owner = a.owner();
  chunk.max_chunks_per_runner = a.code().max_chunks_per_runner();
  switch (a.code().call_style()) {
    case v1::CALL_STYLE_MAP: chunk.call_style = PythonCallStyle::kMap; break;
    case v1::CALL_STYLE_STAR: chunk.call_style = PythonCallStyle::kStar; break;
    case v1::CALL_STYLE_APPLY: chunk.call_style = PythonCallStyle::kApply; break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown call style ", a.code().call_style()));
  }
  const v1::ChunkInput& input = a.input();
  if (input.has_range()) {
    chunk.items = IntRangeItems{input.range().first(), input.range().last()};
  } else if (input.input_case() == v1::ChunkInput::kPayload &&
             input.encoding() == v1::ITEM_ENCODING_PICKLE) {
    chunk.items = PickledListItems{
        std::make_shared<const std::string>(work.input.ToString()),
        input.item_count(), input.offset(), input.count()};
  } else {
    return absl::InvalidArgumentError(
        "a python chunk's items are a range or a pickled list");
  }
  return chunk;
}

}  // namespace

std::shared_ptr<const std::string> CodeChunkRunner::Flatten(
    const std::string& sha256, const Payload& blob) {
  std::lock_guard lock(mutex_);
  for (auto it = flat_.begin(); it != flat_.end(); ++it) {
    if (it->first == sha256) {
      flat_.splice(flat_.begin(), flat_, it);
      return it->second;
    }
  }
  auto bytes = std::make_shared<const std::string>(blob.ToString());
  flat_.emplace_front(sha256, bytes);
  if (flat_.size() > kFlatBlobs) flat_.pop_back();
  return bytes;
}

ChunkDone CodeChunkRunner::Run(const ChunkWork& work) {
  const v1::Assignment& a = work.assignment;
  ChunkDone done;
  done.report.set_job_id(a.job_id());
  done.report.set_chunk_index(a.chunk_index());
  done.report.set_attempt(a.attempt());
  if (work.cancel != nullptr && work.cancel->cancelled()) {
    // Revoked while it waited for a thread: never start a runner for it.
    *done.report.mutable_error() = ErrorFromStatus(
        absl::CancelledError("cancelled before it started"), a.job_id());
    return done;
  }
  absl::StatusOr<PythonChunk> chunk = ToPythonChunk(work);
  if (!chunk.ok()) {
    *done.report.mutable_error() = ErrorFromStatus(chunk.status(), a.job_id());
    return done;
  }
  chunk->function = CodeBlob{a.code().function_sha256(),
                             Flatten(a.code().function_sha256(), work.function)};
  if (!a.code().initializer_sha256().empty()) {
    chunk->initializer =
        CodeBlob{a.code().initializer_sha256(),
                 Flatten(a.code().initializer_sha256(), work.initializer)};
  }
  PythonOutcome outcome = runners_->Run(*chunk);
  done.report.set_run_micros(outcome.run_micros);
  switch (outcome.kind) {
    case PythonOutcome::Kind::kOk:
      done.result = Payload::FromString(std::move(outcome.result));
      break;
    case PythonOutcome::Kind::kUserError:
      *done.report.mutable_error() =
          ErrorFromStatus(absl::AbortedError(outcome.message), a.job_id());
      done.report.set_failure(v1::FAILURE_USER_CODE);
      done.details = Payload::FromString(std::move(outcome.details));
      break;
    case PythonOutcome::Kind::kRunnerFailed:
      *done.report.mutable_error() =
          ErrorFromStatus(absl::UnavailableError(outcome.message), a.job_id());
      break;
    case PythonOutcome::Kind::kCancelled:
      *done.report.mutable_error() =
          ErrorFromStatus(absl::CancelledError(outcome.message), a.job_id());
      break;
  }
  return done;
}

}  // namespace tq
