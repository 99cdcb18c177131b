// BrokerJob: one accepted job inside the broker (the client library's Job is
// its handle on the other side): its input, the chunk ledger (which chunks
// are not yet cut, queued, on which workers, done) and the results waiting
// for client credit.
//
// Chunks name their items (proto/tq/v1/tq.proto, "Chunks name their
// items"): chunk k covers [first_item, first_item + items) of the job's
// input. Range input is cut lazily, in item order, each chunk of the size
// chosen when it is cut: SubmitJob.chunk_size if set, else one learned from
// the job's reported run times (a ChunkSizer aiming at kTargetChunkMicros).
// Only outstanding chunks (queued or on workers) are kept, so a job over
// 1..10^12 costs O(chunks outstanding), never O(chunks). Streamed input
// (chunks the client cut and appends) is held per chunk from its arrival
// until its result is accepted, which the client's window bounds.
//
// A chunk of a range job that keeps failing is split in two (new chunk
// indexes, same items) to isolate the failing item: see Split().
//
// job.cc holds the ledger of chunks and results; job_attach.cc the job's
// attachment to clients (detach, attach, acknowledgements, recomputing what
// a lost connection took, resuming from the journal).
#ifndef TQ_BROKER_JOB_H_
#define TQ_BROKER_JOB_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "broker/delivery_ledger.h"
#include "broker/job_chunks.h"
#include "broker/job_plan.h"
#include "broker/stream_input.h"
#include "common/chunk_sizer.h"
#include "common/payload.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// The run time an automatically sized chunk aims at: long enough that the
// per-chunk overhead (a round trip, a result message) is a few percent,
// short enough that load balances, a cancel or a lost worker costs little,
// and a straggler is noticed quickly. Chunks land between 50 and 200 ms
// once the job's cost is measured (README "Chunk sizing").
inline constexpr uint64_t kTargetChunkMicros = 100'000;

// A finished chunk's result (or, with SubmitJob.skip_failed, its failure),
// waiting for the client's credit.
struct PendingResult {
  uint64_t chunk_index = 0;
  uint64_t first_item = 0;
  uint64_t items = 0;
  uint64_t run_micros = 0;
  Payload payload;
  // Not OK: the items failed on every attempt (no payload).
  absl::Status error;
};

// Not thread-safe: owned by the Scheduler.
class BrokerJob {
 public:
  // `submit` is the accepted SubmitJob with its stream chunks and code blobs
  // moved out: `code_payloads` are the blobs its CodeSpec names (function,
  // then initializer if any), already checked against their digests.
  BrokerJob(uint64_t id, std::string client, std::string owner,
            const JobPlan& plan, v1::SubmitJob submit,
            std::vector<Payload> code_payloads);

  uint64_t id() const { return id_; }
  // The connection its results go to (routing id); empty while detached:
  // its client's connection was lost and none has attached since.
  const std::string& client() const { return client_; }
  bool attached() const { return !client_.empty(); }
  // Detaches the job (client "") or attaches it to `client`, which starts
  // with `credit` result credit (capped by the window).
  void Detach(int64_t now_us);
  void Attach(std::string client, uint64_t credit);
  // Since when it is detached (meaningless while attached).
  int64_t detached_since_us() const { return detached_since_us_; }
  // The secret that lets its holder attach (JobAccepted.job_token).
  const std::string& token() const { return token_; }
  void set_token(std::string token) { token_ = std::move(token); }
  // The CURVE identity that submitted it; empty without CURVE.
  const std::string& submitter() const { return submitter_; }
  void set_submitter(std::string submitter) { submitter_ = std::move(submitter); }
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
  // Range input with a fixed chunk size: that size; else 0.
  uint64_t chunk_size() const { return fixed_chunk_size_; }
  // Range input with a fixed chunk size: the chunks it makes; else the
  // chunks cut (range) or appended (streamed) so far. Splits add to both.
  // A job resumed after a restart counts from its resumption.
  uint64_t chunk_count() const {
    return std::max(fixed_chunk_count_, next_index_ - index_base_);
  }
  // Streamed input: the chunks the client appended (JobAccepted
  // .chunks_received; splits do not count).
  uint64_t chunks_appended() const { return chunks_appended_; }
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
  // Queued chunks are of two kinds: ordinary ones (queued, or not cut yet),
  // which TakeChunk hands out, and suspects (ChunkHistory::suspect), which
  // TakeSuspect hands out, each to a worker of its own.
  bool HasChunkToHandOut() const {
    return !awaiting_client_ && (!queued_.empty() || HasInputToCut());
  }
  bool HasSuspectToHandOut() const { return !suspects_.empty(); }
  uint64_t suspects_queued() const { return suspects_.size(); }
  // Chunks not yet handed out: queued, plus (range input) an estimate of
  // those not cut yet at the current chunk size. Saturates at 2^64-1.
  uint64_t ChunksQueued() const;
  // The next chunk to hand out: the queued one with the lowest first item
  // (a requeued chunk blocks ordered delivery), else a new one cut from
  // the input. `parallelism` (worker threads that can run it) guides the
  // automatic size near the end of the input. Requires HasChunkToHandOut().
  uint64_t TakeChunk(uint64_t parallelism);
  // The queued suspect with the lowest first item. Requires
  // HasSuspectToHandOut().
  uint64_t TakeSuspect();
  // Marks chunk `index` suspect (ChunkHistory::suspect), moving it to the
  // suspects' queue if it is queued.
  void MarkSuspect(uint64_t index);
  Chunk* Find(uint64_t index);
  const Chunk* Find(uint64_t index) const;
  // Outstanding chunks: queued or on workers.
  const ChunkTable& chunks() const { return chunks_; }
  // Chunks on at least one worker.
  uint64_t in_flight() const { return in_flight_; }
  // Adds a hand-out of `index` (which TakeChunk returned, or which is
  // already on another worker: a speculative copy).
  void AddHolder(uint64_t index, Holder holder);
  // Removes `worker`'s hand-out of `index`; with no hand-out left the chunk
  // goes back to the queue (with `history`, if given).
  void RemoveHolder(uint64_t index, const std::string& worker);
  // Its report was accepted (or, skip_failed, it failed for good): no
  // longer outstanding; a streamed chunk's input is released.
  void Finish(uint64_t index);
  // Whether Split() can cut `index` (a queued chunk of >= 2 items).
  bool CanSplit(uint64_t index) const;
  // Replaces queued chunk `index` by two chunks (new indexes) covering its
  // items, each with its history. For boolean tasks the cut falls on a
  // multiple of 8 items where the chunk allows. A streamed chunk's halves
  // share its payload, each naming its items (ChunkInput offset, count).
  void Split(uint64_t index);

  // The items chunk `index` covers, for an Assignment: a range, or the
  // chunk's payload appended to `payloads` and named by index.
  void FillInput(uint64_t index, v1::ChunkInput* input,
                 std::vector<Payload>* payloads) const;
  // Items of the job's input at position `item` as a number, for messages
  // ("item 777 (n=778)"): range input only; else `item`.
  uint64_t ItemNumber(uint64_t item) const;

  // ---- run times (automatic chunk size, stragglers)
  // A chunk of `items` ran `run_micros`, its result `result_bytes` long.
  void ObserveRun(uint64_t items, uint64_t run_micros, uint64_t result_bytes);
  // The median run time of the job's recent chunks; -1 before any report.
  int64_t MedianRunMicros() const;
  // The worker time its chunks on workers will take: in_flight() x its
  // chunks' smoothed run time (before any report, a fraction of the chunk
  // size's target: first chunks are cut small).
  // Clients' loads in these units decide who gets the next free worker, so
  // a client of short chunks is not counted as busy as one of long chunks.
  int64_t InFlightMicros() const;

  // ---- delivery, acknowledgements, attaching again
  const DeliveryLedger& ledger() const { return ledger_; }
  // Every delivered result was acknowledged.
  bool AllAcknowledged() const { return ledger_.unacknowledged() == 0; }
  // The latest AckResults.mark (JobAccepted.mark for an attaching client).
  const std::string& mark() const { return mark_; }
  void set_mark(std::string mark) { mark_ = std::move(mark); }
  // The attached client was sent JobFinished{OK}: every result is
  // delivered, and the job waits for their acknowledgement to be
  // forgotten. An attach clears it (the new client is told again).
  bool finish_sent() const { return finish_sent_; }
  // Also marks it completed (counted as such), which stays.
  void set_finish_sent() { finish_sent_ = completed_ = true; }
  bool completed() const { return completed_; }
  // AckResults: see DeliveryLedger::Acknowledge. Also releases the input of
  // streamed chunks whose items are all acknowledged.
  absl::Status Acknowledge(const ItemRuns& items, uint64_t count);
  // A client attaches holding `have` (results it has, unacknowledged):
  // results delivered before and neither acknowledged nor held are queued
  // to be computed again (range input: new chunks of the lost items;
  // streamed input: the lost chunks again, under their indexes). Returns
  // the number of chunks queued.
  uint64_t RecomputeLost(const ItemRuns& have);
  // The attaching client holds `have` (RecomputeLost ran): those items are
  // delivered (their acknowledgements accepted) and, range input, never cut
  // again (after a restart the broker had not cut them yet).
  void AddHeld(const ItemRuns& have);
  // A range job resumed from the broker's journal: `acknowledged` items
  // (and `count`, count jobs) are done for good and never cut again; chunk
  // indexes go on from `first_index`, above any the job used before.
  // Nothing is cut before a client attaches (AddHeld then says what else
  // it holds).
  void Restore(const ItemRuns& acknowledged, uint64_t count,
               uint64_t first_index);
  // A streamed job resumed from the journal: as Restore, and the client had
  // appended `chunks_appended` chunks of `items_appended` items (and ended
  // its input if `complete`); `live` are those not wholly acknowledged,
  // queued again (under new indexes from `first_index`) once a client
  // attaches.
  void RestoreStream(const ItemRuns& acknowledged, uint64_t count,
                     uint64_t first_index, uint64_t chunks_appended,
                     uint64_t items_appended, bool complete,
                     std::vector<StreamInput> live);
  // The input of the last `n` chunks appended (after AppendInput), for the
  // journal.
  std::vector<StreamInput> LastAppended(size_t n) const;

  // ---- results and client credit
  // True if one more chunk may be handed out: chunks in flight plus results
  // not yet delivered stay below min(client credit, the broker's
  // max_result_window), and chunks in flight below SubmitJob.max_concurrency
  // if set. Queued suspects count as in flight for ordinary chunks (they
  // had their place in the window and keep it while they wait for a worker
  // of their own); SuspectWindowOpen() is the test for a suspect.
  bool WindowOpen() const { return HasRoom(suspects_.size()); }
  // How many more ordinary chunks WindowOpen() would let out now.
  uint64_t Room() const;
  bool SuspectWindowOpen() const { return HasRoom(0); }
  void GrantCredit(uint64_t chunks);
  void AddResult(PendingResult result);
  // Results the client has credit for, each consuming one credit.
  std::vector<PendingResult> TakeDeliverable();
  // AddResult(result), then TakeDeliverable(); a result taken at once
  // (nothing waits before it, the client has credit) skips the queue,
  // whose memory a report would otherwise touch twice (issue 9).
  std::vector<PendingResult> AddAndTakeDeliverable(PendingResult result);
  size_t undelivered() const { return undelivered_.size(); }
  // The Scheduler's memo of whether the workers of one class (`key`: the
  // class's address; classes live as long as the Scheduler) can run this
  // job. Neither changes, so the memo stays right; it spares dispatch
  // reading the submit message at every hand-out (issue 9).
  struct RunsOnMemo {
    const void* key = nullptr;
    bool can_run = false;
  };
  RunsOnMemo& runs_on_memo() const { return runs_on_memo_; }
  // Every item's result (or failure) was delivered.
  bool AllDelivered() const {
    return input_complete_ && !HasInputToCut() && chunks_.empty() &&
           undelivered_.empty();
  }

 private:
  // A streamed chunk's input, kept until its result is accepted (its items
  // filled in once finished, in retained_).
  using StreamChunk = StreamInput;
  // The input of items [first, first + items) of `whole`, which holds
  // them: a sub-range, or the same payload naming the items to run
  // (ChunkInput offset, count).
  static StreamChunk PartOf(const StreamChunk& whole, uint64_t first,
                            uint64_t items);
  // The retained input holding item `item`, if any.
  const StreamChunk* RetainedHolding(uint64_t item) const;
  // Queues a new chunk (new index) for items [first, first + items) of the
  // streamed input `whole`.
  void QueuePart(const StreamChunk& whole, uint64_t first, uint64_t items);

  bool HasInputToCut() const { return !streamed_ && cut_items_ < range_items_; }
  // Moves the cut past items never to cut again (skip_).
  void SkipAcknowledged();
  // Items for the next cut chunk of a range job.
  uint64_t NextCutItems(uint64_t parallelism) const;
  // Queues `index` for hand-out: with the suspects, or the others.
  void Enqueue(uint64_t index);
  void Dequeue(uint64_t index, const Chunk& chunk);
  // Whether `reserved` more chunks in flight leave room for one more.
  bool HasRoom(uint64_t reserved) const;

  // Hot first: what each hand-out and report of the job reads or writes.
  // A round of dispatch touches a job last seen about as many rounds ago
  // as there are jobs, so each cache line of it is a miss: these sit
  // together at the front (issue 9), the rest (constant after
  // construction, or used at submit, attach, end) after them.
  const uint64_t id_;
  uint64_t in_flight_ = 0;
  uint64_t credit_ = 0;
  // SubmitJob.max_concurrency (0: none), copied out of submit_.
  const uint64_t max_concurrency_;
  const uint32_t max_window_;
  const bool streamed_;
  const bool bool_results_;
  bool input_complete_;
  // Resumed from a journal and not yet attached: nothing is cut until the
  // client says which items it holds (their chunks' bounds then are not
  // this broker's to know, and a result overlapping them would be dropped
  // whole by the client).
  bool awaiting_client_ = false;
  const uint64_t fixed_chunk_size_;
  // Range input: its items (2^64 for the whole of uint64). Items below
  // cut_items_ are cut into chunks.
  const unsigned __int128 range_items_;
  unsigned __int128 cut_items_ = 0;
  uint64_t next_index_ = 0;
  // Run time per chunk, smoothed (weight 1/4 for the newest); -1 before any.
  int64_t average_run_us_ = -1;
  // The latest reported run times, for the median (a ring of at most
  // kRecentRuns), and their median, selected when first asked for after a
  // report (at most once per report however often it is asked:
  // BestWorkerFor asks per worker owing reports). Kept sorted instead,
  // every report moved half of 64 run times and touched most of their
  // cache lines, whether anyone asked or not (issue 9).
  static constexpr size_t kRecentRuns = 64;
  size_t recent_pos_ = 0;
  mutable int64_t median_us_ = -1;
  mutable bool median_stale_ = false;
  bool finish_sent_ = false;
  bool completed_ = false;
  mutable RunsOnMemo runs_on_memo_;
  uint64_t chunks_done_ = 0;
  uint64_t items_done_ = 0;
  std::vector<uint64_t> recent_runs_;
  // Queued chunks by (first item, index): lowest first item first.
  std::set<std::pair<uint64_t, uint64_t>> queued_;
  // Queued suspects, the same way.
  std::set<std::pair<uint64_t, uint64_t>> suspects_;
  ChunkTable chunks_;
  std::deque<PendingResult> undelivered_;
  // Attachment (see Detach/Attach).
  std::string client_;
  DeliveryLedger ledger_;
  ChunkSizer sizer_;
  // Range input resumed after a restart: items never to cut again.
  ItemRuns skip_;
  v1::SubmitJob submit_;

  // Constant after construction.
  const std::string owner_;
  const Task* const task_;
  const std::vector<Payload> code_payloads_;
  const uint64_t fixed_chunk_count_;
  const uint64_t max_chunk_items_;
  const uint64_t min_chunk_items_;
  const uint32_t window_;
  const v1::ItemEncoding encoding_;

  int64_t submitted_us_ = 0;
  int64_t deadline_us_ = std::numeric_limits<int64_t>::max();
  uint64_t items_total_;
  int64_t detached_since_us_ = 0;
  std::string token_;
  std::string submitter_;
  std::string mark_;
  // Streamed input of chunks finished but not yet acknowledged, by first
  // item (disjoint), kept to be computed again if their results are lost
  // with a connection (at most what the ledger tracks).
  std::map<uint64_t, StreamChunk> retained_;
  // Range input resumed after a restart: the first chunk index it used
  // then.
  uint64_t index_base_ = 0;
  uint64_t chunks_appended_ = 0;
  // Streamed input: chunks appended and not yet finished, by index.
  absl::flat_hash_map<uint64_t, StreamChunk> stream_;
};

}  // namespace tq

#endif  // TQ_BROKER_JOB_H_
