#include "broker/outbox.h"

#include <utility>

namespace tq {
namespace {

// Items of a batchable body, or nullptr-equivalents for other bodies.
template <typename Repeated>
size_t BytesOf(const Repeated& items) {
  size_t bytes = 0;
  for (const auto& item : items) bytes += item.ByteSizeLong() + 4;
  return bytes;
}

}  // namespace

void Outbox::Add(const std::string& peer, v1::Envelope envelope) {
  const auto body = envelope.body_case();
  const bool batchable = body == v1::Envelope::kAssignments ||
                         body == v1::Envelope::kJobResults;
  size_t bytes = 0;
  if (batchable) {
    bytes = body == v1::Envelope::kAssignments
                ? BytesOf(envelope.assignments().assignments())
                : BytesOf(envelope.job_results().results());
    auto it = last_index_.find(peer);
    if (it != last_index_.end()) {
      OutgoingMessage& last = messages_[it->second];
      if (last.envelope.body_case() == body &&
          last.batch_bytes + bytes <= kMaxBatchBytes) {
        if (body == v1::Envelope::kAssignments) {
          auto* into = last.envelope.mutable_assignments()->mutable_assignments();
          auto* from = envelope.mutable_assignments()->mutable_assignments();
          if (into->size() + from->size() <= kMaxBatchItems) {
            for (auto& a : *from) into->Add(std::move(a));
            last.batch_bytes += bytes;
            return;
          }
        } else {
          auto* into = last.envelope.mutable_job_results()->mutable_results();
          auto* from = envelope.mutable_job_results()->mutable_results();
          if (into->size() + from->size() <= kMaxBatchItems) {
            for (auto& r : *from) into->Add(std::move(r));
            last.batch_bytes += bytes;
            return;
          }
        }
      }
    }
  }
  last_index_[peer] = messages_.size();
  messages_.push_back(OutgoingMessage{peer, std::move(envelope), bytes});
}

std::vector<OutgoingMessage> Outbox::Take() {
  last_index_.clear();
  return std::exchange(messages_, {});
}

}  // namespace tq
