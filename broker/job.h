// One accepted job inside the broker: its input, the chunk ledger (which
// chunks are not yet cut, requeued, in flight or done) and the results
// waiting for client credit.
//
// Chunks are cut lazily: a counter says how many have been cut; requeued and
// in-flight chunks are kept by index; every other index below the counter is
// done. So a job over 1..10^12 costs O(chunks in flight), never O(chunks).
#ifndef TQ_BROKER_JOB_H_
#define TQ_BROKER_JOB_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "broker/job_plan.h"
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

// Not thread-safe: owned by the Scheduler.
class Job {
 public:
  Job(uint64_t id, std::string client, const JobPlan& plan,
      v1::SubmitJob submit);

  uint64_t id() const { return id_; }
  const std::string& client() const { return client_; }
  const Task& task() const { return *task_; }
  // Task name, params, reduction and input as submitted.
  const v1::SubmitJob& submit() const { return submit_; }
  uint64_t chunk_size() const { return chunk_size_; }
  uint64_t chunk_count() const { return chunk_count_; }
  // When the broker accepted it (the scheduler's clock); for status ages.
  int64_t submitted_us() const { return submitted_us_; }
  void set_submitted_us(int64_t now_us) { submitted_us_ = now_us; }
  // Chunks (and their items) whose report was accepted: Finish() calls.
  uint64_t chunks_done() const { return chunks_done_; }
  uint64_t items_done() const { return items_done_; }

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
  // Its report was accepted: no longer in flight or requeued.
  void Finish(uint64_t index);
  // Back to the queue (from in flight) with `history`.
  void Requeue(uint64_t index, ChunkHistory history);

  // The items chunk `index` covers.
  void FillInput(uint64_t index, v1::ChunkInput* input) const;
  uint64_t ChunkItems(uint64_t index) const;

  // ---- results and client credit
  // True if one more chunk may be handed out: chunks in flight plus results
  // not yet delivered stay below min(client credit, max_window).
  bool WindowOpen(uint64_t max_window) const;
  void GrantCredit(uint64_t chunks);
  void AddResult(v1::ChunkResult result);
  // Results the client has credit for, each consuming one credit.
  std::vector<v1::ChunkResult> TakeDeliverable();
  size_t undelivered() const { return undelivered_.size(); }
  bool AllDelivered() const { return delivered_ == chunk_count_; }

 private:
  // Constant after construction.
  const uint64_t id_;
  const std::string client_;
  const Task* const task_;
  v1::SubmitJob submit_;
  const uint64_t chunk_size_;
  const uint64_t chunk_count_;

  int64_t submitted_us_ = 0;
  uint64_t chunks_done_ = 0;
  uint64_t items_done_ = 0;

  // Ledger: indexes >= next_chunk_ are not cut yet.
  uint64_t next_chunk_ = 0;
  std::map<uint64_t, ChunkHistory> requeued_;
  absl::flat_hash_map<uint64_t, InFlightChunk> in_flight_;

  uint64_t credit_ = 0;
  uint64_t delivered_ = 0;
  std::deque<v1::ChunkResult> undelivered_;
};

}  // namespace tq

#endif  // TQ_BROKER_JOB_H_
