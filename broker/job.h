// BrokerJob: one accepted job inside the broker (the client library's Job is
// its handle on the other side): its input, the chunk ledger (which
// chunks are not yet cut, requeued, in flight or done) and the results
// waiting for client credit.
//
// Range input is cut lazily: a counter says how many chunks have been cut;
// requeued and in-flight chunks are kept by index; every other index below
// the counter is done. So a job over 1..10^12 costs O(chunks in flight),
// never O(chunks). Streamed input (chunks the client cut and appends) is
// held per chunk from its arrival until its result is accepted, which the
// client's window bounds (proto/tq/v1/tq.proto, "Streamed input").
#ifndef TQ_BROKER_JOB_H_
#define TQ_BROKER_JOB_H_

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "broker/job_plan.h"
#include "common/payload.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// What happened to a chunk's earlier hand-outs.
struct ChunkHistory {
  // Attempt number of the latest hand-out (0: never handed out).
  uint32_t last_attempt = 0;
  // Hand-outs that ended badly (lease expired, worker lost, task failed);
  // chunks handed back by Drain/Goodbye do not count.
  uint32_t failures = 0;
  // The latest failure, for the job's error message.
  int32_t last_code = 0;
  std::string last_error;
};

struct InFlightChunk {
  std::string worker;     // routing id of the worker holding it
  ChunkHistory history;   // history.last_attempt is this hand-out's attempt
  int64_t deadline_us = 0;
};

// A finished chunk's result, waiting for the client's credit.
struct PendingResult {
  uint64_t chunk_index = 0;
  uint64_t run_micros = 0;
  Payload payload;
};

// Not thread-safe: owned by the Scheduler.
class BrokerJob {
 public:
  // `submit` is the accepted SubmitJob with its stream chunks and code blobs
  // moved out: `code_payloads` are the blobs its CodeSpec names (function,
  // then initializer if any), already checked against their digests.
  BrokerJob(uint64_t id, std::string client, std::string owner, const JobPlan& plan,
      v1::SubmitJob submit, std::vector<Payload> code_payloads);

  uint64_t id() const { return id_; }
  const std::string& client() const { return client_; }
  // Whose code a code job runs (Assignment.owner); empty for task jobs.
  const std::string& owner() const { return owner_; }
  // nullptr for a code job.
  const Task* task() const { return task_; }
  // Task name, params, reduction, code and limits as submitted (input
  // chunks and code blobs moved out).
  const v1::SubmitJob& submit() const { return submit_; }
  bool is_code() const { return submit_.has_code(); }
  bool is_streamed() const { return streamed_; }
  // The function blob, then the initializer blob if any.
  const std::vector<Payload>& code_payloads() const { return code_payloads_; }
  // Range input: the chunk size; streamed: 0.
  uint64_t chunk_size() const { return chunk_size_; }
  // Chunks known so far: all of a range job's; a streamed job's appended.
  uint64_t chunk_count() const { return chunk_count_; }
  // Items known so far, saturating at 2^64-1.
  uint64_t items_total() const { return items_total_; }
  // Streamed input that the client has not ended yet.
  bool input_open() const { return !input_complete_; }
  // The result window granted (JobAccepted.result_window).
  uint32_t window() const { return window_; }
  // When the broker accepted it (the scheduler's clock); for status ages.
  int64_t submitted_us() const { return submitted_us_; }
  // Records the acceptance time, and from it the deadline.
  void set_submitted_us(int64_t now_us);
  // When the broker cancels it (SubmitJob.timeout_ms); INT64_MAX if never.
  int64_t deadline_us() const { return deadline_us_; }
  // Chunks (and their items) whose report was accepted: Finish() calls.
  uint64_t chunks_done() const { return chunks_done_; }
  uint64_t items_done() const { return items_done_; }

  // ---- streamed input
  // Appends chunks the client cut (SubmitJob.stream or AppendInput).
  // `payloads` are the carrying message's. kInvalidArgument for a chunk that
  // is malformed or does not fit the job's encoding; kResourceExhausted if
  // the job would hold more than window() chunks not yet delivered;
  // kFailedPrecondition after the input was ended. Either way nothing of
  // `chunks` is kept.
  absl::Status AppendInput(
      const google::protobuf::RepeatedPtrField<v1::ChunkInput>& chunks,
      bool complete, const std::vector<Payload>& payloads);

  // ---- chunk ledger
  bool HasChunkToHandOut() const {
    return !requeued_.empty() || next_chunk_ < chunk_count_;
  }
  // Chunks not yet handed out (requeued + never cut).
  uint64_t ChunksQueued() const {
    return requeued_.size() + (chunk_count_ - next_chunk_);
  }
  // Takes the next chunk to hand out, requeued ones first (lowest index
  // first). Requires HasChunkToHandOut().
  std::pair<uint64_t, ChunkHistory> TakeChunk();
  void PutInFlight(uint64_t index, InFlightChunk chunk);
  const InFlightChunk* FindInFlight(uint64_t index) const;
  const absl::flat_hash_map<uint64_t, InFlightChunk>& in_flight() const {
    return in_flight_;
  }
  // In flight or requeued: a report for it is still wanted.
  bool IsOutstanding(uint64_t index) const;
  // Its report was accepted: no longer in flight or requeued; a streamed
  // chunk's input is released.
  void Finish(uint64_t index);
  // Back to the queue (from in flight) with `history`.
  void Requeue(uint64_t index, ChunkHistory history);

  // The items chunk `index` covers, for an Assignment: a range, or the
  // chunk's payload appended to `payloads` and named by index.
  void FillInput(uint64_t index, v1::ChunkInput* input,
                 std::vector<Payload>* payloads) const;
  // Items in chunk `index` (which must not be finished yet if streamed).
  uint64_t ChunkItems(uint64_t index) const;

  // ---- results and client credit
  // True if one more chunk may be handed out: chunks in flight plus results
  // not yet delivered stay below min(client credit, the broker's
  // max_result_window), and chunks in flight below SubmitJob.max_concurrency
  // if set.
  bool WindowOpen() const;
  void GrantCredit(uint64_t chunks);
  void AddResult(PendingResult result);
  // Results the client has credit for, each consuming one credit.
  std::vector<PendingResult> TakeDeliverable();
  size_t undelivered() const { return undelivered_.size(); }
  bool AllDelivered() const {
    return input_complete_ && delivered_ == chunk_count_;
  }

 private:
  // A streamed chunk's input, kept until its result is accepted.
  struct StreamChunk {
    v1::ChunkInput input;  // range, or payload (index unused: see payload)
    Payload payload;
    uint64_t items = 0;
  };

  // Constant after construction.
  const uint64_t id_;
  const std::string client_;
  const std::string owner_;
  const Task* const task_;
  v1::SubmitJob submit_;
  const std::vector<Payload> code_payloads_;
  const bool streamed_;
  const uint64_t chunk_size_;
  const uint32_t window_;
  const uint32_t max_window_;
  const v1::ItemEncoding encoding_;
  // Largest chunk a streamed job may append (items).
  const uint64_t max_chunk_items_;

  int64_t submitted_us_ = 0;
  int64_t deadline_us_ = std::numeric_limits<int64_t>::max();
  uint64_t chunks_done_ = 0;
  uint64_t items_done_ = 0;
  uint64_t chunk_count_;
  uint64_t items_total_;
  bool input_complete_;

  // Ledger: indexes >= next_chunk_ are not cut (handed out) yet.
  uint64_t next_chunk_ = 0;
  std::map<uint64_t, ChunkHistory> requeued_;
  absl::flat_hash_map<uint64_t, InFlightChunk> in_flight_;
  // Streamed input: chunks appended and not yet finished.
  absl::flat_hash_map<uint64_t, StreamChunk> stream_;

  uint64_t credit_ = 0;
  uint64_t delivered_ = 0;
  std::deque<PendingResult> undelivered_;
};

}  // namespace tq

#endif  // TQ_BROKER_JOB_H_
