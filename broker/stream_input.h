// StreamInput: one chunk of a streamed job's input as the broker keeps it
// (BrokerJob, until its items are acknowledged) and journals it
// (JobJournal, so that a restarted broker resumes the job).
#ifndef TQ_BROKER_STREAM_INPUT_H_
#define TQ_BROKER_STREAM_INPUT_H_

#include <cstdint>

#include "common/payload.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// A range, or (payload input) the chunk's bytes, with the items it covers
// in the job: [first_item, first_item + items).
struct StreamInput {
  v1::ChunkInput input;  // payload input: the index is unused (see payload)
  Payload payload;
  uint64_t first_item = 0;
  uint64_t items = 0;
};

}  // namespace tq

#endif  // TQ_BROKER_STREAM_INPUT_H_
