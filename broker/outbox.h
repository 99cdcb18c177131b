// The Scheduler's output: messages (an envelope and the payloads it carries)
// addressed to peers, in order per peer. Consecutive batchable messages to
// one peer (Assignments to a worker, JobResults to a client) are merged into
// one, so the broker loop sends few large messages instead of many small
// ones; merging renumbers the payload indexes the bodies hold, and stops at
// bounds that keep the envelope within one frame and the message well below
// kMaxMessageBytes.
#ifndef TQ_BROKER_OUTBOX_H_
#define TQ_BROKER_OUTBOX_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/payload.h"
#include "common/protocol.h"
#include "tq/v1/tq.pb.h"

namespace tq {

struct OutgoingMessage {
  std::string peer;  // ROUTER routing id
  v1::Envelope envelope;
  // Indexed by the payload fields of the envelope's body.
  std::vector<Payload> payloads;
  // Serialized size of the merged items so far, and of their payloads
  // (batchable bodies only).
  size_t batch_bytes = 0;
  size_t payload_bytes = 0;
};

// Not thread-safe: owned by the one thread driving the Scheduler.
class Outbox {
 public:
  // Merge bounds: at most this many items, envelope bytes and payload bytes
  // per merged message (one message may exceed the payload bound by its own
  // payloads: a chunk's input plus its code blobs, at most 3 x 16 MiB).
  static constexpr int kMaxBatchItems = 4096;
  // Half a frame: a merged envelope stays within kMaxFrameBytes even with
  // one more body of the largest kind (an Assignment carries at most
  // kMaxParamsBytes of task parameters).
  static constexpr size_t kMaxBatchBytes = kMaxFrameBytes / 2;
  static constexpr size_t kMaxBatchPayloadBytes = 16 << 20;

  // Appends a message for `peer`, merging it into that peer's last one if
  // both are Assignments or both JobResults and the bounds allow.
  void Add(const std::string& peer, v1::Envelope envelope,
           std::vector<Payload> payloads = {});

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
