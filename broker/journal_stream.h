// Journal streaming between the brokers of a standby pair (issue 8 part
// 4): the active sends its journal's records to the passive, which keeps
// them in its own journal and acknowledges them once synced. Pure
// bookkeeping (sequence numbers, snapshots, what waits for what);
// broker/pair_peer.h moves the messages (proto/tq/v1/pair.proto).
//
// Synchronous where it matters: a turn of the active's loop that journaled
// a job or streamed input (what JobAccepted and the input's acknowledgement
// promise) holds that turn's outgoing messages until the passive
// acknowledged those records (required_seq() <= acked()). While no passive
// follows, nothing waits: the active goes on alone.
#ifndef TQ_BROKER_JOURNAL_STREAM_H_
#define TQ_BROKER_JOURNAL_STREAM_H_

#include <cstdint>
#include <vector>

#include "broker/journal_format.h"
#include "tq/v1/pair.pb.h"

namespace tq {

// Records per PairRecords message: at most this many bytes of payload (one
// record alone may be larger, up to kMaxJournalPayloadBytes).
inline constexpr size_t kPairBatchBytes = size_t{4} << 20;

// The active's side.
class JournalStreamSender {
 public:
  // A passive asked to follow: a new stream `stream` (non-zero, unlike the
  // last) starting with `live` (the journal's live state). Returns the
  // snapshot's messages, in order.
  std::vector<v1::PairRecords> Start(uint64_t stream,
                                     std::vector<JournalRecord> live);
  // Records the journal appended since the last call; `required`: this
  // turn's messages wait for them. Nothing while no passive follows.
  std::vector<v1::PairRecords> Append(std::vector<JournalRecord> records,
                                      bool required);
  void OnAck(const v1::PairAck& ack);
  // The passive is gone (silent, or the stream broke): nothing waits.
  void Stop();

  bool following() const { return stream_ != 0; }
  uint64_t stream() const { return stream_; }
  // Messages queued now must wait until acked() reaches this (0: none).
  uint64_t required_seq() const { return following() ? required_ : 0; }
  uint64_t acked() const { return acked_; }

 private:
  std::vector<v1::PairRecords> Batch(std::vector<JournalRecord> records,
                                     bool snapshot);

  uint64_t stream_ = 0;  // 0: no passive follows
  uint64_t next_seq_ = 1;
  uint64_t required_ = 0;
  uint64_t acked_ = 0;
};

// The passive's side: what to do with each PairRecords.
class JournalStreamReceiver {
 public:
  enum class Action {
    kNone,     // a part of a snapshot, kept until its end
    kReplace,  // a snapshot is complete: replace the journal with records()
    kAppend,   // append records() to the journal
    kResync,   // out of step (another stream, a gap): ask for a snapshot
  };
  Action OnRecords(v1::PairRecords message);
  // kReplace/kAppend: the records to apply; taken.
  std::vector<JournalRecord> TakeRecords();
  // The stream followed (0: none yet) and the last record applied: what to
  // acknowledge once synced.
  uint64_t stream() const { return stream_; }
  uint64_t seq() const { return seq_; }
  // The stream whose snapshot is being received (0: none).
  uint64_t snapshot_stream() const { return snapshot_stream_; }
  // Forget the stream (e.g. the active changed): the next records resync.
  void Reset();

 private:
  uint64_t stream_ = 0;
  uint64_t seq_ = 0;
  uint64_t snapshot_stream_ = 0;  // a snapshot being received
  std::vector<JournalRecord> records_;
};

}  // namespace tq

#endif  // TQ_BROKER_JOURNAL_STREAM_H_
