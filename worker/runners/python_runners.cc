#include "worker/runners/python_runners.h"

#include <algorithm>
#include <deque>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/runners/runner_protocol.h"

namespace tq {

using runner_protocol::ReplyKind;

// One runner process and what it is bound to.
struct PythonRunners::Slot {
  Slot(std::string owner, std::string initializer_sha)
      : owner(std::move(owner)), initializer_sha(std::move(initializer_sha)) {}

  // Constant: what this runner may run.
  const std::string owner;
  const std::string initializer_sha;  // "" = no initializer

  // Protected by PythonRunners::mutex_.
  bool busy = true;
  uint64_t job_id = 0;
  uint64_t chunk_index = 0;
  bool cancelled = false;  // CancelJob killed it during this chunk
  uint64_t last_used = 0;
  // Null while starting. Set under the mutex by the thread holding the slot
  // (busy), which alone may then read it without the mutex.
  std::unique_ptr<RunnerProcess> process;

  // Only used by the thread holding the slot.
  uint32_t chunks_run = 0;
  bool initializer_sent = false;
  // Mirror of the runner's function LRU, most recent last.
  std::deque<std::string> loaded_functions;

  bool HasFunction(const std::string& sha) const {
    return std::find(loaded_functions.begin(), loaded_functions.end(), sha) !=
           loaded_functions.end();
  }
  void NoteFunctionUsed(const std::string& sha) {
    auto it = std::find(loaded_functions.begin(), loaded_functions.end(), sha);
    if (it != loaded_functions.end()) loaded_functions.erase(it);
    loaded_functions.push_back(sha);
    if (loaded_functions.size() > runner_protocol::kRunnerCodeCacheSize) {
      loaded_functions.pop_front();
    }
  }
};

namespace {

PythonOutcome Outcome(PythonOutcome::Kind kind, std::string message) {
  PythonOutcome outcome;
  outcome.kind = kind;
  outcome.message = std::move(message);
  return outcome;
}

PythonOutcome Cancelled(const PythonChunk& chunk) {
  return Outcome(
      PythonOutcome::Kind::kCancelled,
      absl::StrCat("chunk ", chunk.chunk_index, " of job ", chunk.job_id,
                   " cancelled: its runner was "
                   "killed"));
}

const std::string& InitializerSha(const PythonChunk& chunk) {
  static const std::string* const kNone = new std::string;
  return chunk.initializer ? chunk.initializer->sha256 : *kNone;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PythonRunners>> PythonRunners::Create(
    PythonRunnersOptions options) {
  if (options.max_runners < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_runners must be at least 1, not ", options.max_runners));
  }
  absl::StatusOr<std::unique_ptr<const RunnerLaunch>> launch =
      RunnerLaunch::Prepare(options);
  if (!launch.ok()) return launch.status();
  return std::unique_ptr<PythonRunners>(
      new PythonRunners(std::move(options), *std::move(launch)));
}

PythonRunners::PythonRunners(PythonRunnersOptions options,
                             std::unique_ptr<const RunnerLaunch> launch)
    : options_(std::move(options)), launch_(std::move(launch)) {}

PythonRunners::~PythonRunners() {
  std::list<std::unique_ptr<Slot>> slots;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    slots.swap(slots_);
  }
  slots.clear();  // each RunnerProcess kills and reaps its runner
}

PythonRunnersStats PythonRunners::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  PythonRunnersStats stats = stats_;
  stats.live = static_cast<int>(slots_.size());
  stats.busy = static_cast<int>(
      std::count_if(slots_.begin(), slots_.end(),
                    [](const auto& slot) { return slot->busy; }));
  return stats;
}

void PythonRunners::CancelJob(uint64_t job_id) { Cancel(job_id, std::nullopt); }

void PythonRunners::CancelChunk(uint64_t job_id, uint64_t chunk_index) {
  Cancel(job_id, chunk_index);
}

void PythonRunners::Cancel(uint64_t job_id, std::optional<uint64_t> chunk_index) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::unique_ptr<Slot>& slot : slots_) {
    if (!slot->busy || slot->job_id != job_id || slot->cancelled) continue;
    if (chunk_index.has_value() && slot->chunk_index != *chunk_index) continue;
    slot->cancelled = true;
    ++stats_.cancels;
    // Under the mutex: the Run thread reaps only after removing the slot,
    // so the process cannot have been reaped yet.
    if (slot->process) slot->process->Kill();
  }
}

std::unique_ptr<RunnerProcess> PythonRunners::RemoveSlotLocked(
    const Slot* slot) {
  auto it = std::find_if(slots_.begin(), slots_.end(),
                         [slot](const auto& s) { return s.get() == slot; });
  std::unique_ptr<RunnerProcess> process = std::move((*it)->process);
  slots_.erase(it);
  slot_freed_.notify_all();
  return process;
}

PythonRunners::Slot* PythonRunners::TakeSlotLocked(
    const PythonChunk& chunk, std::unique_lock<std::mutex>& lock,
    std::list<std::unique_ptr<RunnerProcess>>* discarded) {
  const std::string& initializer_sha = InitializerSha(chunk);
  // Policy: a matching idle runner if any; else a new one if there is room;
  // else the least recently used idle runner of another owner or
  // initializer makes room; else wait for a runner to come back.
  while (true) {
    Slot* match = nullptr;
    const Slot* oldest_other = nullptr;
    for (auto it = slots_.begin(); it != slots_.end();) {
      Slot* slot = it->get();
      ++it;
      if (slot->busy) continue;
      if (slot->process->HasExited()) {  // killed while idle (OOM killer)
        ++stats_.deaths;
        discarded->push_back(RemoveSlotLocked(slot));
        continue;
      }
      if (slot->owner == chunk.owner &&
          slot->initializer_sha == initializer_sha) {
        if (match == nullptr || slot->last_used > match->last_used) {
          match = slot;  // the warmest one
        }
      } else if (oldest_other == nullptr ||
                 slot->last_used < oldest_other->last_used) {
        oldest_other = slot;
      }
    }
    if (match != nullptr) {
      match->busy = true;
      match->job_id = chunk.job_id;
      match->chunk_index = chunk.chunk_index;
      match->cancelled = false;
      return match;
    }
    if (static_cast<int>(slots_.size()) >= options_.max_runners &&
        oldest_other != nullptr) {
      ++stats_.retirements;
      discarded->push_back(RemoveSlotLocked(oldest_other));
    }
    if (static_cast<int>(slots_.size()) < options_.max_runners) break;
    slot_freed_.wait(lock);
  }
  slots_.push_back(std::make_unique<Slot>(chunk.owner, initializer_sha));
  Slot* slot = slots_.back().get();
  slot->job_id = chunk.job_id;
  slot->chunk_index = chunk.chunk_index;
  return slot;
}

std::optional<PythonOutcome> PythonRunners::StartProcess(
    Slot* slot, const PythonChunk& chunk) {
  absl::StatusOr<std::unique_ptr<RunnerProcess>> started =
      RunnerProcess::Start(*launch_, forking_thread_);
  std::unique_ptr<RunnerProcess> discard;  // destroyed after the lock below
  std::lock_guard<std::mutex> lock(mutex_);
  if (!started.ok()) {
    RemoveSlotLocked(slot);
    return Outcome(PythonOutcome::Kind::kRunnerFailed,
                   std::string(started.status().message()));
  }
  ++stats_.starts;
  slot->process = *std::move(started);
  if (slot->cancelled) {
    discard = RemoveSlotLocked(slot);
    return Cancelled(chunk);
  }
  return std::nullopt;
}

absl::StatusOr<RunnerReply> PythonRunners::Exchange(Slot* slot,
                                                    const PythonChunk& chunk) {
  runner_protocol::RequestHeader header;
  header.call_style = static_cast<uint8_t>(chunk.call_style);
  header.has_initializer = chunk.initializer.has_value();
  header.max_result_bytes = options_.max_result_bytes;
  header.job_id = chunk.job_id;
  header.chunk_index = chunk.chunk_index;
  runner_protocol::RequestBlobs blobs;
  blobs.function_sha = chunk.function.sha256;
  if (chunk.initializer) blobs.initializer_sha = chunk.initializer->sha256;
  if (const auto* range = std::get_if<IntRangeItems>(&chunk.items)) {
    header.items_kind = 0;
    header.items_a = range->first;
    header.items_b = range->last;
  } else {
    const auto& list = std::get<PickledListItems>(chunk.items);
    header.items_kind = 1;
    header.items_a = list.offset;
    header.items_b = list.count;
    header.items_c = list.size;
    blobs.items_pickle = *list.pickle;
  }
  const uint32_t max_reply_body = static_cast<uint32_t>(
      std::min<uint64_t>(uint64_t{options_.max_result_bytes} +
                             runner_protocol::kReplyOverheadBytes,
                         UINT32_MAX));

  bool send_function = !slot->HasFunction(chunk.function.sha256);
  bool send_initializer = chunk.initializer && !slot->initializer_sent;
  for (int attempt = 0; attempt < 2; ++attempt) {
    blobs.function_pickle =
        send_function ? std::string_view(*chunk.function.bytes) : "";
    blobs.initializer_pickle =
        send_initializer ? std::string_view(*chunk.initializer->bytes) : "";
    runner_protocol::RequestFrame frame(header, blobs);
    if (!frame.fits()) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", chunk.chunk_index, " of job ", chunk.job_id,
                       " is ", frame.size() >> 20,
                       " MiB pickled; the limit is 4 GiB: use a "
                       "smaller chunksize"));
    }
    absl::StatusOr<RunnerReply> reply =
        slot->process->Call(frame, max_reply_body);
    if (!reply.ok() || reply->kind != ReplyKind::kNeedCode) {
      if (reply.ok()) {
        slot->NoteFunctionUsed(chunk.function.sha256);
        slot->initializer_sent = slot->initializer_sent || send_initializer;
      }
      return reply;
    }
    // Our mirror of its cache was wrong (a function that failed to load is
    // not cached): send everything once more.
    send_function = true;
    send_initializer = chunk.initializer.has_value();
  }
  return absl::DataLossError("the runner asked again for code it was sent");
}

PythonOutcome PythonRunners::Finish(Slot* slot, const PythonChunk& chunk,
                                    absl::StatusOr<RunnerReply> reply) {
  const bool answered = reply.ok() && (reply->kind == ReplyKind::kOk ||
                                       reply->kind == ReplyKind::kUserError);
  // A chunk too big to send leaves its runner as it was.
  const bool runner_fine = answered || absl::IsInvalidArgument(reply.status());
  std::unique_ptr<RunnerProcess> ended;  // killed and reaped outside the lock
  bool cancelled;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled = slot->cancelled;
    bool keep = runner_fine && !cancelled;
    if (answered && keep) {
      ++slot->chunks_run;
      if (reply->retire || (chunk.max_chunks_per_runner != 0 &&
                            slot->chunks_run >= chunk.max_chunks_per_runner)) {
        keep = false;
        ++stats_.retirements;
      }
    } else if (!runner_fine && !cancelled) {
      ++stats_.deaths;
    }
    if (keep) {
      slot->busy = false;
      slot->last_used = ++use_clock_;
      slot_freed_.notify_all();
    } else {
      ended = RemoveSlotLocked(slot);
    }
  }
  if (cancelled) return Cancelled(chunk);
  if (!reply.ok()) {
    if (absl::IsInvalidArgument(reply.status())) {  // too big to send
      return Outcome(PythonOutcome::Kind::kUserError,
                     std::string(reply.status().message()));
    }
    if (absl::IsUnavailable(reply.status())) {
      std::string message = DescribeWaitStatus(ended->Wait());
      if (!ended->ready()) {
        absl::StrAppend(&message, " before it was ready (`",
                        launch_->CommandLine(), "`: see the worker's stderr)");
      }
      return Outcome(PythonOutcome::Kind::kRunnerFailed, std::move(message));
    }
    return Outcome(
        PythonOutcome::Kind::kRunnerFailed,
        absl::StrCat("runner protocol error: ", reply.status().message()));
  }
  if (reply->kind == ReplyKind::kProtocolError) {
    return Outcome(PythonOutcome::Kind::kRunnerFailed,
                   absl::StrCat("runner protocol error: ", reply->message));
  }
  PythonOutcome outcome;
  outcome.run_micros = reply->run_micros;
  outcome.message = std::move(reply->message);
  if (reply->kind == ReplyKind::kOk) {
    outcome.kind = PythonOutcome::Kind::kOk;
    outcome.result = std::move(reply->payload);
  } else {
    outcome.kind = PythonOutcome::Kind::kUserError;
    outcome.details = std::move(reply->payload);
  }
  return outcome;
}

PythonOutcome PythonRunners::Run(const PythonChunk& chunk) {
  if (chunk.function.bytes == nullptr ||
      (std::holds_alternative<PickledListItems>(chunk.items) &&
       std::get<PickledListItems>(chunk.items).pickle == nullptr) ||
      (chunk.initializer && chunk.initializer->bytes == nullptr)) {
    return Outcome(PythonOutcome::Kind::kUserError,
                   "invalid chunk: a pickle is missing");
  }
  Slot* slot;
  std::list<std::unique_ptr<RunnerProcess>> discarded;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    slot = TakeSlotLocked(chunk, lock, &discarded);
  }
  discarded.clear();  // kill and reap displaced runners, outside the lock
  if (slot->process == nullptr) {
    if (std::optional<PythonOutcome> failed = StartProcess(slot, chunk)) {
      return *std::move(failed);
    }
  }
  return Finish(slot, chunk, Exchange(slot, chunk));
}

}  // namespace tq
