#include "broker/outbox.h"

#include <utility>

#include "absl/container/inlined_vector.h"

namespace tq {
namespace {

template <typename Repeated>
size_t BytesOf(const Repeated& items) {
  size_t bytes = 0;
  for (const auto& item : items) bytes += item.ByteSizeLong() + 4;
  return bytes;
}

size_t BatchBytes(const v1::Envelope& envelope) {
  switch (envelope.body_case()) {
    case v1::Envelope::kAssignments:
      return BytesOf(envelope.assignments().assignments()) +
             BytesOf(envelope.assignments().code_blobs());
    case v1::Envelope::kJobResults:
      return BytesOf(envelope.job_results().results());
    default:
      return 0;
  }
}

int BatchItems(const v1::Envelope& envelope) {
  return envelope.has_assignments() ? envelope.assignments().assignments_size()
                                    : envelope.job_results().results_size();
}

// Moves the pointers in `from` to the end of `into`: no copy and no
// allocation per item (neither side lives on an arena).
template <typename T>
void TransferAll(google::protobuf::RepeatedPtrField<T>& from,
                 google::protobuf::RepeatedPtrField<T>& into) {
  const int n = from.size();
  absl::InlinedVector<T*, 8> items(n);
  from.ExtractSubrange(0, n, items.data());
  for (T* item : items) into.AddAllocated(item);
}

// Moves `from`'s items into `into`, shifting their payload indexes by
// `shift` (the payloads `into` already carries).
void MergeBodies(v1::Envelope& into, v1::Envelope& from, uint32_t shift) {
  if (from.has_assignments()) {
    v1::Assignments* to = into.mutable_assignments();
    for (v1::Assignment& a : *from.mutable_assignments()->mutable_assignments()) {
      if (a.input().input_case() == v1::ChunkInput::kPayload) {
        a.mutable_input()->set_payload(a.input().payload() + shift);
      }
    }
    for (v1::CodeBlob& blob : *from.mutable_assignments()->mutable_code_blobs()) {
      blob.set_payload(blob.payload() + shift);
    }
    TransferAll(*from.mutable_assignments()->mutable_assignments(),
                *to->mutable_assignments());
    TransferAll(*from.mutable_assignments()->mutable_code_blobs(),
                *to->mutable_code_blobs());
  } else {
    for (v1::ChunkResult& r : *from.mutable_job_results()->mutable_results()) {
      r.set_payload(r.payload() + shift);
    }
    TransferAll(*from.mutable_job_results()->mutable_results(),
                *into.mutable_job_results()->mutable_results());
  }
}

}  // namespace

void Outbox::Add(const std::string& peer, v1::Envelope envelope,
                 std::vector<Payload> payloads) {
  const auto body = envelope.body_case();
  const bool batchable = body == v1::Envelope::kAssignments ||
                         body == v1::Envelope::kJobResults;
  size_t bytes = 0;
  size_t payload_bytes = 0;
  for (const Payload& p : payloads) payload_bytes += p.size();
  if (batchable) {
    bytes = BatchBytes(envelope);
    auto it = last_index_.find(peer);
    if (it != last_index_.end()) {
      OutgoingMessage& last = messages_[it->second];
      if (last.envelope.body_case() == body &&
          last.batch_bytes + bytes <= kMaxBatchBytes &&
          last.payload_bytes + payload_bytes <= kMaxBatchPayloadBytes &&
          BatchItems(last.envelope) + BatchItems(envelope) <= kMaxBatchItems) {
        MergeBodies(last.envelope, envelope,
                    static_cast<uint32_t>(last.payloads.size()));
        for (Payload& p : payloads) last.payloads.push_back(std::move(p));
        last.batch_bytes += bytes;
        last.payload_bytes += payload_bytes;
        return;
      }
    }
  }
  last_index_[peer] = messages_.size();
  messages_.push_back(OutgoingMessage{peer, std::move(envelope),
                                      std::move(payloads), bytes,
                                      payload_bytes});
}

std::vector<OutgoingMessage> Outbox::Take() {
  last_index_.clear();
  return std::exchange(messages_, {});
}

}  // namespace tq
