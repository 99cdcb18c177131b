#include "client/job.h"

#include <utility>

namespace tq {

// JobState's submit-time fields (job_id, chunk_size, chunk_count, input) are
// written before Submit() returns and never again, so reading them here
// without the session mutex is safe.
Job::Job(BrokerSession* session, std::shared_ptr<JobState> state)
    : session_(session), state_(std::move(state)) {}

Job::~Job() { session_->Release(*state_); }

uint64_t Job::id() const { return state_->job_id; }
uint64_t Job::chunk_size() const { return state_->chunk_size; }
uint64_t Job::chunk_count() const { return state_->chunk_count; }

absl::uint128 Job::item_count() const {
  return absl::uint128(state_->input->last_index()) + 1;
}

absl::StatusOr<std::optional<ChunkResult>> Job::Next() {
  return session_->Next(*state_, /*ordered=*/true);
}

absl::StatusOr<std::optional<ChunkResult>> Job::NextCompleted() {
  return session_->Next(*state_, /*ordered=*/false);
}

void Job::Cancel() { session_->Cancel(*state_); }

}  // namespace tq
