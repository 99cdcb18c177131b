// The Scheduler's output: envelopes addressed to peers, in order per peer.
// Consecutive batchable envelopes to one peer (Assignments to a worker,
// JobResults to a client) are merged into one message, so the broker loop
// sends few large messages instead of many small ones; merging stops at a
// size bound so a message stays far below kMaxMessageBytes.
#ifndef TQ_BROKER_OUTBOX_H_
#define TQ_BROKER_OUTBOX_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "tq/v1/tq.pb.h"

namespace tq {

struct OutgoingMessage {
  std::string peer;  // ROUTER routing id
  v1::Envelope envelope;
  // Serialized size of the merged items so far (batchable bodies only).
  size_t batch_bytes = 0;
};

// Not thread-safe: owned by the one thread driving the Scheduler.
class Outbox {
 public:
  // Merge bounds: at most this many items / bytes per merged message.
  static constexpr int kMaxBatchItems = 4096;
  static constexpr size_t kMaxBatchBytes = 8 << 20;

  // Appends `envelope` for `peer`, merging into that peer's last message if
  // both are Assignments or both JobResults and the bounds allow.
  void Add(const std::string& peer, v1::Envelope envelope);

  bool empty() const { return messages_.empty(); }
  const std::vector<OutgoingMessage>& messages() const { return messages_; }
  // Hands over everything queued and leaves the outbox empty.
  std::vector<OutgoingMessage> Take();

 private:
  std::vector<OutgoingMessage> messages_;
  // Index in messages_ of each peer's last message.
  absl::flat_hash_map<std::string, size_t> last_index_;
};

}  // namespace tq

#endif  // TQ_BROKER_OUTBOX_H_
