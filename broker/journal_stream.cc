#include "broker/journal_stream.h"

#include <utility>

namespace tq {
namespace {

// Moves `message`'s records to `out`; false if one has an impossible type.
bool TakeInto(v1::PairRecords& message, std::vector<JournalRecord>* out) {
  for (v1::PairRecord& record : *message.mutable_records()) {
    if (record.type() == 0 || record.type() > 255) return false;
    out->push_back({static_cast<uint8_t>(record.type()),
                    std::move(*record.mutable_payload())});
  }
  return true;
}

}  // namespace

std::vector<v1::PairRecords> JournalStreamSender::Batch(
    std::vector<JournalRecord> records, bool snapshot) {
  std::vector<v1::PairRecords> messages;
  size_t bytes = 0;
  for (JournalRecord& record : records) {
    if (messages.empty() || bytes + record.payload.size() > kPairBatchBytes) {
      messages.emplace_back();
      messages.back().set_stream(stream_);
      messages.back().set_first_seq(next_seq_);
      messages.back().set_snapshot(snapshot);
      bytes = 0;
    }
    bytes += record.payload.size();
    v1::PairRecord* out = messages.back().add_records();
    out->set_type(record.type);
    out->set_payload(std::move(record.payload));
    ++next_seq_;
  }
  if (snapshot) {
    if (messages.empty()) {  // an empty journal: one empty message
      messages.emplace_back();
      messages.back().set_stream(stream_);
      messages.back().set_first_seq(next_seq_);
      messages.back().set_snapshot(true);
    }
    messages.back().set_snapshot_end(true);
  }
  return messages;
}

std::vector<v1::PairRecords> JournalStreamSender::Start(
    uint64_t stream, std::vector<JournalRecord> live) {
  stream_ = stream;
  next_seq_ = 1;
  acked_ = 0;
  std::vector<v1::PairRecords> messages = Batch(std::move(live), true);
  // Whatever waited is in the snapshot: it waits for the snapshot's ack.
  required_ = next_seq_ - 1;
  return messages;
}

std::vector<v1::PairRecords> JournalStreamSender::Append(
    std::vector<JournalRecord> records, bool required) {
  if (!following() || records.empty()) return {};
  std::vector<v1::PairRecords> messages = Batch(std::move(records), false);
  if (required) required_ = next_seq_ - 1;
  return messages;
}

void JournalStreamSender::OnAck(const v1::PairAck& ack) {
  if (!following() || ack.stream() != stream_ || ack.seq() >= next_seq_) return;
  acked_ = std::max(acked_, ack.seq());
}

void JournalStreamSender::Stop() {
  stream_ = 0;
  required_ = 0;
  acked_ = 0;
}

JournalStreamReceiver::Action JournalStreamReceiver::OnRecords(
    v1::PairRecords message) {
  if (message.snapshot()) {
    if (message.first_seq() == 1) {
      snapshot_stream_ = message.stream();
      records_.clear();
    } else if (message.stream() != snapshot_stream_ ||
               message.first_seq() != records_.size() + 1) {
      snapshot_stream_ = 0;
      records_.clear();
      return Action::kResync;
    }
    if (!TakeInto(message, &records_)) {
      snapshot_stream_ = 0;
      records_.clear();
      return Action::kResync;
    }
    if (!message.snapshot_end()) return Action::kNone;
    stream_ = snapshot_stream_;
    seq_ = records_.size();
    snapshot_stream_ = 0;
    return Action::kReplace;
  }
  if (stream_ == 0 || message.stream() != stream_ ||
      message.first_seq() != seq_ + 1) {
    return Action::kResync;
  }
  records_.clear();
  if (!TakeInto(message, &records_)) {
    records_.clear();
    return Action::kResync;
  }
  seq_ += records_.size();
  return Action::kAppend;
}

std::vector<JournalRecord> JournalStreamReceiver::TakeRecords() {
  return std::exchange(records_, {});
}

void JournalStreamReceiver::Reset() {
  stream_ = 0;
  seq_ = 0;
  snapshot_stream_ = 0;
  records_.clear();
}

}  // namespace tq
