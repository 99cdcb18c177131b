#include "client/job.h"

#include <utility>

#include "client/broker_session.h"

namespace tq {

bool IsJobFailure(const absl::Status& status) {
  return status.GetPayload(internal::kJobFailurePayload).has_value();
}

// JobState's constant fields (job_id, chunk_size, chunk_count, window, range,
// token, task, reduction, what was acknowledged before an attach, mark) are
// written before Submit() or Attach() returns and never again, so reading
// them here without the session mutex is safe.
Job::Job(internal::BrokerSession* session,
         std::shared_ptr<internal::JobState> state)
    : session_(session), state_(std::move(state)) {}

Job::~Job() { session_->Release(*state_); }

uint64_t Job::id() const { return state_->job_id; }
uint64_t Job::chunk_size() const { return state_->chunk_size; }
uint64_t Job::chunk_count() const { return state_->chunk_count; }
uint32_t Job::window() const { return state_->window; }
const std::string& Job::token() const { return state_->job_token; }
const std::string& Job::task() const { return state_->task; }
Reduction Job::reduction() const {
  return state_->count_reduction ? Reduction::kCount : Reduction::kNone;
}
absl::uint128 Job::acknowledged_items_before() const {
  return state_->acknowledged_before;
}
uint64_t Job::acknowledged_count_before() const {
  return state_->acknowledged_count_before;
}
const std::string& Job::mark() const { return state_->mark; }

absl::uint128 Job::item_count() const {
  if (!state_->streamed) return absl::uint128(state_->range_last_index) + 1;
  return session_->ItemsAppended(*state_);
}

absl::StatusOr<std::optional<ChunkResult>> Job::Next() {
  absl::StatusOr<JobEvent> event =
      session_->Poll(*state_, /*ordered=*/true, /*want_room=*/false,
                     absl::InfiniteDuration());
  if (!event.ok()) return event.status();
  return std::move(event->result);
}

absl::StatusOr<std::optional<ChunkResult>> Job::NextCompleted() {
  absl::StatusOr<JobEvent> event =
      session_->Poll(*state_, /*ordered=*/false, /*want_room=*/false,
                     absl::InfiniteDuration());
  if (!event.ok()) return event.status();
  return std::move(event->result);
}

absl::StatusOr<JobEvent> Job::Poll(bool ordered, absl::Duration timeout) {
  return session_->Poll(*state_, ordered, /*want_room=*/true, timeout);
}

JobStats Job::stats() const { return session_->Stats(*state_); }

size_t Job::InputRoom() const { return session_->InputRoom(*state_); }

absl::Status Job::Append(InputChunk chunk) {
  return session_->Append(*state_, std::move(chunk));
}

absl::Status Job::EndInput() { return session_->EndInput(*state_); }

std::optional<UserCodeError> Job::user_code_error() const {
  return session_->user_code_error(*state_);
}

void Job::Acknowledge() { session_->Acknowledge(*state_); }
void Job::Acknowledge(std::string mark) {
  session_->Acknowledge(*state_, std::move(mark));
}

void Job::Cancel() { session_->Cancel(*state_); }

}  // namespace tq
