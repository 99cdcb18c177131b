// The broker's brain as a sans-I/O state machine: peers, jobs, chunks,
// leases, credits, retries. Events go in (a parsed message from a peer, a
// malformed one, a peer found unreachable, the passing of time), envelopes
// to send come out in an Outbox. It owns no socket and never reads a clock:
// every event carries `now_us`, so tests drive it with fake time.
//
// Policy in one paragraph: a worker gets Assignments only against credit it
// granted, and only of jobs it can run (their task in its Hello.tasks, or
// their code's runtime and version in its Hello.runtimes); clients share
// workers by worker time, their chunks' on workers plus their recent use
// (least first; a client under half another's has its chunks run before
// those queued on the worker, which gives that other's queued chunks back),
// their jobs round-robin, requeued chunks first; a job has at most min(client credit, its window)
// chunks in flight or waiting for delivery; every hand-out has a lease,
// renewed while its worker lists it in a heartbeat, and a run limit; an
// expired lease, a run limit passed, a worker lost while running the chunk
// alone or a task error is a failed attempt, and a chunk with max_attempts
// of them is split until the failing item is alone, which fails the job (or
// with skip_failed is reported failed); chunks a worker held when it was
// lost with others beside them become suspects, which from then on run
// alone on a worker of their own, so that a crash is charged to the chunk
// that caused it and to no neighbour; an error raised by shipped code
// fails the job at once; only the holder of a hand-out may report it, and
// the first report wins; a chunk held past max(3 x its job's median chunk
// time, 1 s) while a worker idles gets a speculative copy. Payloads (chunk
// inputs, results, code) pass through untouched.
#ifndef TQ_BROKER_SCHEDULER_H_
#define TQ_BROKER_SCHEDULER_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "broker/deadline_heap.h"
#include "broker/job.h"
#include "broker/job_journal.h"
#include "broker/lease_deadlines.h"
#include "broker/outbox.h"
#include "broker/scheduler_observer.h"
#include "broker/scheduler_options.h"
#include "broker/scheduler_stats.h"
#include "common/item_runs.h"
#include "common/payload.h"
#include "tasks/task.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// A message from a peer, as the broker loop received it.
struct InboundMessage {
  std::string peer;  // ROUTER routing id
  v1::Envelope envelope;
  // Indexed by the payload fields of the envelope's body.
  std::vector<Payload> payloads;
  // The sender's CURVE identity (its connection's ZAP User-Id, e.g.
  // "client:alice"); empty without CURVE. Code jobs run in runners of one
  // owner: this identity, else the client's session.
  std::string user_id;
};

// A worker running a suspect alone is sent a heartbeat at least this often:
// a send to a worker whose process died fails at once (the broker loop then
// calls OnPeerUnreachable), so a crash is charged and the suspect handed on
// within this rather than the heartbeat interval. A few bytes per probe,
// to a few workers.
inline constexpr int64_t kAloneProbeMs = 100;

// A chunk's turnaround beyond its run time of at least this is a stall of
// its worker (Scheduler::ObserveStall): below the 200 ms of a TCP
// retransmission, the mark of a lossy link, and far above the queueing and
// scheduling delays of a healthy worker.
inline constexpr int64_t kStallFloorUs = 150'000;

// A client whose work on workers is at most 1/kUnderShareFactor of another
// client's is far below its share: its chunks jump the queues of the
// workers they go to, which give back that other client's queued chunks.
// Not at any imbalance: two busy clients drift a chunk or two apart all the
// time, and shuffling their prefetched chunks back and forth would cost
// round trips for nothing.
inline constexpr int64_t kUnderShareFactor = 2;

// Not thread-safe: one thread (the broker loop, or a test) drives it.
class Scheduler {
 public:
  // `options` as ValidateBrokerOptions accepts them (a BrokerOptions passes
  // as its SchedulerOptions part). `tasks` must outlive the scheduler.
  explicit Scheduler(const SchedulerOptions& options,
                     const TaskRegistry* tasks = &BuiltinTasks());
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Where verbose log lines go (peer arrivals/departures, job lifecycle);
  // unset means quiet.
  void set_logger(std::function<void(absl::string_view)> logger) {
    logger_ = std::move(logger);
  }

  // A parsed message.
  void OnMessage(InboundMessage message, int64_t now_us, Outbox* out);
  // A message from `peer` that could not be parsed: counted, answered with
  // an Error, otherwise ignored (report and carry on).
  void OnMalformed(const std::string& peer, const absl::Status& error,
                   int64_t now_us, Outbox* out);
  // A message the broker loop refused by its sender's CURVE key
  // (peer_authorizer.h): counted, answered with `error`, otherwise ignored;
  // the peer is not registered by it.
  // `request_id`: the refused SubmitJob's, so the client's submit fails.
  void OnUnauthorized(const std::string& peer, const absl::Status& error,
                      int64_t now_us, Outbox* out, uint64_t request_id = 0);
  // Whether `peer` said an accepted Hello and has not left since.
  bool HasPeer(const std::string& peer) const { return peers_.contains(peer); }
  // Sending to `peer` failed: it is gone (as if it had timed out).
  void OnPeerUnreachable(const std::string& peer, int64_t now_us, Outbox* out);
  // Runs whatever is due at `now_us`: lease expiries, silent peers,
  // heartbeats to quiet peers. `backlog`: messages are still waiting to be
  // read (the loop stopped at its per-wake budget), so no peer is judged
  // silent now: its heartbeat may be among them.
  void OnTick(int64_t now_us, Outbox* out, bool backlog = false);
  // When OnTick next has something to do (absolute, microseconds);
  // INT64_MAX if nothing is scheduled. May be early, never late.
  int64_t NextDeadlineUs() const;

  SchedulerStats stats() const;
  // Welcome.broker_epoch: new at every start.
  uint64_t epoch() const { return epoch_; }

  // Where accepted range jobs, acknowledgements and job ends are recorded
  // (broker/job_journal.h); nullptr (the default) for none. Must outlive
  // the scheduler or be reset.
  void set_journal(JournalSink* journal) { journal_ = journal; }
  // Jobs a journal kept across a restart: each resumes detached, waiting
  // for its client to attach (within client_grace_ms), its acknowledged
  // items never cut again, its chunk indexes from `first_index` on (above
  // any it used before the restart). A job the broker no longer accepts
  // (e.g. a task gone) is dropped and its end recorded. Returns how many
  // resumed.
  size_t RestoreJobs(const std::vector<JournaledJob>& jobs,
                     uint64_t first_index, int64_t now_us);

  // Told of single events for histograms (see scheduler_observer.h);
  // nullptr (the default) for none. Must outlive the scheduler or be reset.
  void set_observer(SchedulerObserver* observer) { observer_ = observer; }

  // The operator's view at `now_us`: workers, totals and running jobs, as
  // answered to a StatusRequest (request_id left 0). scheduler_status.cc.
  v1::StatusReply Status(int64_t now_us) const;

  // For tests (scheduler_check.cc): "" if the dispatch indexes
  // (scheduler_index.cc) agree with a full scan of peers and jobs, else
  // what disagrees. With `dispatched` (just after an event that ends in
  // Dispatch), also that no worker able to take a chunk now idles while a
  // job it can run has one to hand out. O(peers x jobs + chunks).
  std::string CheckIndexes(int64_t now_us, bool dispatched) const;

 private:
  struct WorkerClass;
  struct Peer {
    // The fields each message or hand-out reads come first, together (a
    // peer is met again only after the others: each cache line of it is a
    // miss, issue 9); its name, offers and jobs after them.
    v1::Role role = v1::ROLE_UNSPECIFIED;
    int64_t last_heard_us = 0;
    int64_t last_sent_us = 0;
    // Client only: the worker time its chunks took, decaying with a time
    // constant of kUsageDecayUs (as of usage_at_us), for fair shares.
    double usage_us = 0;
    int64_t usage_at_us = 0;
    // Worker only.
    uint32_t threads = 0;
    uint64_t credit = 0;
    // Chunks handed to it and not yet reported, requeued or revoked.
    uint64_t held = 0;
    // Its chunks' turnaround beyond their run time (hand-out to report,
    // minus run_micros: network and queueing), smoothed; -1 before any.
    int64_t turnaround_us = -1;
    // Its last stall (ObserveStall) as of stall_at_us; it fades with
    // kStallHalfLifeUs. A lossy link shows in such stalls, while its other
    // reports, most of them prompt, keep turnaround_us low.
    int64_t stall_us = 0;
    int64_t stall_at_us = 0;
    int64_t last_handout_us = std::numeric_limits<int64_t>::min() / 2;
    // Handed a chunk since its last report or held heartbeat, and since
    // when.
    bool owes_report = false;
    int64_t owing_since_us = 0;
    bool draining = false;
    // Kept free for a suspect (DispatchSuspects): gets no other chunk, and
    // a suspect as soon as it holds nothing.
    bool reserved = false;
    // Runs a suspect alone and gets nothing else until it is done (while
    // held > 0; see RunsAlone).
    bool alone = false;
    // Which registration of its id this is (stale tick entries name an
    // earlier one), and the due time of its live entry in heartbeats_.
    uint64_t incarnation = 0;
    int64_t heartbeat_due_us = 0;
    // Welcome.session: its reports must carry it (or none, 0).
    uint64_t session = 0;
    // Worker only, the dispatch indexes' view of it (scheduler_index.cc):
    // its key in peers_ (node_hash_map: stable), its capability class,
    // whether it is in the class's ready set and with which held count,
    // its order of arrival (ties), and its entry among the turnarounds.
    const std::string* id = nullptr;
    WorkerClass* worker_class = nullptr;
    bool ready = false;
    uint64_t ready_held = 0;
    uint64_t seq = 0;
    bool turnaround_indexed = false;
    int64_t turnaround_key = 0;
    bool stalled = false;
    std::string name;
    // What it runs (Hello.tasks, Hello.runtimes), and the digests of the
    // code blobs this session was sent.
    absl::flat_hash_set<std::string> tasks;
    std::vector<v1::Runtime> runtimes;
    absl::flat_hash_set<std::string> code_sent;
    // Client only: the jobs it owns, and their code's owner.
    absl::flat_hash_set<uint64_t> jobs;
    std::string owner;
  };
  // Orders ready workers by chunks held per thread, then arrival.
  struct LighterWorker {
    bool operator()(const Peer* a, const Peer* b) const;
  };
  // Workers offering the same tasks and runtimes: a job either can run on
  // all of them or on none. `sample` holds only those offers (for CanRun).
  struct WorkerClass {
    Peer sample;
    // Workers able to take a chunk now (not draining, credit, neither
    // reserved nor running a suspect alone), least loaded first. B-trees
    // here and for the shares and turnarounds: re-ordered several times
    // per chunk, and a B-tree's few wide nodes stay in cache where a
    // red-black tree's one node per worker or client does not (issue 9).
    absl::btree_set<Peer*, LighterWorker> ready;
  };
  // The clients' shares of the workers (clients with jobs; "" holds the
  // detached jobs): the load that orders them, and their jobs that may
  // have a chunk to hand out, in turn.
  struct ClientShare {
    std::string client;
    // peers_'s entry for `client`, nullptr while there is none (kept by
    // LinkSharePeer): its load is computed per re-key, without hashing the
    // id again.
    Peer* peer = nullptr;
    // Sum of its jobs' InFlightMicros, and how many jobs count in it.
    int64_t in_flight_us = 0;
    size_t jobs = 0;
    // ClientLoadUs at load_at_us_, and when it was last handed a chunk
    // (ties go to the one served least recently, then the older).
    int64_t load = 0;
    uint64_t served = 0;
    uint64_t seq = 0;
    bool in_ready = false;
    // (job id, its JobShare::generation) in turn; stale entries are
    // dropped when met.
    std::deque<std::pair<uint64_t, uint64_t>> turns;
  };
  struct LighterShare {
    bool operator()(const ClientShare* a, const ClientShare* b) const;
  };
  // A job's part in its client's share.
  struct JobShare {
    ClientShare* share = nullptr;
    int64_t in_flight_us = 0;
    uint64_t in_flight = 0;
    uint64_t generation = 0;
    bool in_turns = false;
  };
  // A job as the Scheduler keeps it: its share entry in the same
  // allocation, so that finding the job finds it (issue 9: a hash map of
  // entries beside jobs_ cost two more cache misses per job and round).
  // Every job in jobs_ is one (ShareEntry relies on it).
  struct ScheduledJob final : BrokerJob {
    using BrokerJob::BrokerJob;
    // Zero until JobChanged first places it, and after ForgetJobShare.
    alignas(64) JobShare share_entry;
  };
  static JobShare& ShareEntry(BrokerJob& job) {
    return static_cast<ScheduledJob&>(job).share_entry;
  }
  // Why a hand-out ends without a result. kDrained, kReturned (given back
  // unstarted: ReturnQueued) and kCodeMissing (the worker lost a code blob)
  // requeue without penalty. A lost worker charges
  // a chunk only when the loss is surely the chunk's doing: kWorkerLost (it
  // held that chunk only) charges it if it ran alone as a suspect or the
  // worker said it had started it; kWorkerLostWithOthers (it held more) does
  // not. Uncharged, the chunk becomes a suspect; a suspect is charged for
  // any later loss (see RequeueChunk).
  enum class RequeueReason {
    kLeaseExpired,
    kWorkerLost,
    kWorkerLostWithOthers,
    kTaskFailed,
    kRunLimit,
    kDrained,
    kReturned,
    kCodeMissing
  };
  // How a job ended, beyond its status: shipped code that raised.
  struct UserCodeError {
    uint64_t chunk_index = 0;
    Payload details;
  };

  // scheduler.cc: peers and message routing.
  void OnHello(const InboundMessage& message, int64_t now_us, Outbox* out);
  void OnWorkerMessage(Peer& peer, InboundMessage& message, int64_t now_us,
                       Outbox* out);
  void OnClientMessage(Peer& peer, InboundMessage& message, int64_t now_us,
                       Outbox* out);
  // The peer left (Goodbye), fell silent, or could not be reached.
  // `failed` says whether its chunks count as failed attempts.
  void ForgetPeer(const std::string& id, bool failed, absl::string_view why,
                  int64_t now_us, Outbox* out);
  void Send(const std::string& peer, v1::Envelope envelope, int64_t now_us,
            Outbox* out, std::vector<Payload> payloads = {});
  void SendError(const std::string& peer, const absl::Status& status,
                 int64_t now_us, Outbox* out, uint64_t job_id = 0,
                 uint64_t request_id = 0);
  uint64_t WorkerThreads() const;
  void Log(absl::string_view line) const;
  std::string PeerName(const std::string& id) const;

  // Whether `worker` can run `job`'s chunks: its task, or its code's
  // runtime and version.
  bool CanRun(const Peer& worker, const BrokerJob& job) const;
  // CanRun for the workers of `worker_class`, remembered in the job.
  bool ClassCanRun(const WorkerClass& worker_class, const BrokerJob& job) const;
  // A code job: nothing if the broker accepts it now; else why not
  // (runtime not allowed, no connected worker with its version...).
  absl::Status CheckCodeJob(const v1::SubmitJob& submit) const;
  // What a job needs that no connected worker offers ("" if some can run
  // it), for status.
  std::string MissingCapability(const BrokerJob& job) const;

  // scheduler_jobs.cc: jobs, results, cancellation and timeouts.
  void OnSubmit(const std::string& client, Peer& peer, InboundMessage& message,
                int64_t now_us, Outbox* out);
  // The job `job_id` if `client` is attached to it; else nullptr, having
  // counted a stale message (no such job: it ended) or refused the client
  // (PERMISSION_DENIED: another client's job).
  BrokerJob* OwnedJob(const std::string& client, uint64_t job_id,
                      int64_t now_us, Outbox* out);
  void OnAppendInput(const std::string& client, InboundMessage& message,
                     int64_t now_us, Outbox* out);
  // The blobs `submit` names, checked against their digests (function first,
  // then initializer); kInvalidArgument if one is missing or does not match.
  absl::StatusOr<std::vector<Payload>> TakeCodeBlobs(
      const v1::SubmitJob& submit, const std::vector<Payload>& payloads) const;
  void OnClientCredit(const std::string& client, const v1::ClientCredit& credit,
                      int64_t now_us, Outbox* out);
  void OnCancel(const std::string& client, const v1::CancelJob& cancel,
                int64_t now_us, Outbox* out);
  // scheduler_status.cc: answers with Status(now_us).
  void OnStatusRequest(const std::string& client,
                       const v1::StatusRequest& request, int64_t now_us,
                       Outbox* out);
  // A job just put in jobs_, or just detached: its timeout and its grace
  // period join the tick's deadlines.
  void WatchJob(const BrokerJob& job);
  // `peer`'s next heartbeat may be due sooner (it runs alone now).
  void WatchHeartbeat(const std::string& id, Peer& peer);
  // Ends the jobs past their SubmitJob.timeout_ms.
  void ExpireJobs(int64_t now_us, Outbox* out);
  // Sends `job`'s client the results it has credit for; `fresh`: a result
  // just finished, added first (BrokerJob::AddAndTakeDeliverable).
  void DeliverResults(BrokerJob& job, int64_t now_us, Outbox* out,
                      PendingResult* fresh = nullptr);
  // Every result of `job` was delivered: it ends once they are all
  // acknowledged (at once if they are, or if its client does not track
  // them); until then its client is told it finished (JobFinished{OK}) and
  // the job waits, without results, for the acknowledgements or for a
  // client to attach after its client's loss. `job` may be invalid after.
  void CompleteJob(BrokerJob& job, int64_t now_us, Outbox* out);
  // Counts job `id` as ended with `status` (stats, observer).
  void CountEnded(uint64_t id, const absl::Status& status, int64_t now_us);
  // Ends a job: RevokeJob to its workers (if not ok), JobFinished to its
  // client (with the details of `user_error` if given, the failed item if
  // `failed_item` >= 0) unless it was told already (finish_sent), state
  // freed. `job` is invalid afterwards.
  void EndJob(BrokerJob& job, const absl::Status& status, int64_t now_us,
              Outbox* out, const UserCodeError* user_error = nullptr,
              int64_t failed_item = -1);

  // scheduler_chunks.cc: dispatch, leases, reports, retries, stragglers.
  void OnReports(const std::string& worker, Peer& peer,
                 const v1::ChunkReports& reports,
                 const std::vector<Payload>& payloads, int64_t now_us,
                 Outbox* out);
  void OnReport(const std::string& worker, Peer& peer,
                const v1::ChunkReport& report,
                const std::vector<Payload>& payloads, int64_t now_us,
                Outbox* out);
  // ChunkReports from a connection with no registered worker: a session
  // the broker already ended (counted as stale, told to say hello again).
  void OnOrphanReports(const std::string& id, const v1::ChunkReports& reports,
                       int64_t now_us, Outbox* out);
  // A worker's Heartbeat.held: renews the leases of what it holds, learns
  // which chunks started, enforces run limits.
  void OnHeld(const std::string& worker, const v1::WorkerHeld& held,
              int64_t now_us, Outbox* out);
  void OnDrain(const std::string& worker, Peer& peer, const v1::Drain& drain,
               int64_t now_us, Outbox* out);
  // Hands out chunks while some worker has credit and some job it can run
  // can use it: suspects first (DispatchSuspects), then the job of the
  // client with the least load first (ClientLoadUs: clients share workers'
  // time fairly, however many jobs each has open and however long their
  // chunks), round-robin among equals. A client waiting while another's
  // load is over kUnderShareFactor times its own gets run_first hand-outs
  // and ReclaimQueued. Then speculative copies of stragglers.
  void Dispatch(int64_t now_us, Outbox* out);
  // scheduler_reclaim.cc: asks workers to give back (ReturnQueued) up to
  // `want` chunks of clients whose load is at least kUnderShareFactor times
  // `share`'s, which waits for a free worker, minus those asked and not yet
  // given back: the newest such hand-outs not known to run, one per worker
  // holding more chunks than threads. O(want), not O(chunks in flight).
  void ReclaimQueued(const ClientShare& share, uint64_t want, int64_t now_us,
                     Outbox* out);
  // A hand-out Dispatch made, for ReclaimQueued (HandOut records it).
  void RecordHandOut(uint64_t job_id, uint64_t index, uint32_t attempt,
                     HandOutTicket ticket);
  // A client's recent use of workers (Peer::usage_us decayed to `now_us`)
  // plus the work its chunks on workers will take: who is furthest below
  // its share gets the next free worker. `client`: its Peer, nullptr for a
  // client not connected (no use).
  static double ClientLoadUs(const Peer* client, int64_t in_flight_us,
                             int64_t now_us);
  // `peer`'s usage_us decayed to `now_us`.
  static double UsageUs(const Peer& peer, int64_t now_us);
  // Adds `run_micros` of worker time to `client`'s usage; the caller
  // re-keys its share (JobChanged).
  void ChargeClient(const std::string& client, uint64_t run_micros,
                    int64_t now_us);
  // Whether `peer` runs a suspect alone now.
  static bool RunsAlone(const Peer& peer) { return peer.alone && peer.held > 0; }
  // How often `peer` hears from the broker when nothing else is sent.
  int64_t HeartbeatEveryUs(const Peer& peer) const {
    return 1000 * (RunsAlone(peer) ? std::min(options_.heartbeat_interval_ms,
                                              kAloneProbeMs)
                                   : options_.heartbeat_interval_ms);
  }
  // The least loaded worker with credit that can run `job`, is neither
  // reserved nor running a suspect, nor quiet (no message for 1.5 heartbeat
  // intervals, or owing reports for max(kStragglerFactor x the job's median
  // chunk time, kQuietFloorUs)),
  // and does not hold chunk `except` (a chunk it already runs), or nullptr. A slow worker (IsSlow) comes last:
  // it gets a chunk only when no other can take one, or as a probe (it
  // holds nothing and had none for kSlowProbeEveryUs).
  std::pair<const std::string*, Peer*> BestWorkerFor(
      const BrokerJob& job, int64_t now_us, const Chunk* except = nullptr);
  // Whether `peer` takes no new chunk of a job whose median chunk time is
  // `median_us` (negative: not measured yet) at `now_us`: quiet, as
  // BestWorkerFor says.
  bool Quiet(const Peer& peer, int64_t median_us, int64_t now_us) const;
  // `peer`'s turnaround at `now_us`: the larger of its smoothed turnaround
  // and its last stall, faded; -1 before either.
  static int64_t TurnaroundUs(const Peer& peer, int64_t now_us);
  static int64_t FadedStallUs(const Peer& peer, int64_t now_us);
  // `peer` held a chunk `held_us` without a result: a turnaround of at
  // least kStallFloorUs, or a copy elsewhere reporting first. Counts in
  // TurnaroundUs at once if longer than it, then fades.
  static void ObserveStall(Peer& peer, int64_t held_us, int64_t now_us);
  // Whether `peer`'s turnaround is far beyond the fastest worker's: a host
  // behind a lossy or distant link, whose chunks would hold an ordered job
  // back while the others idle.
  static bool IsSlow(const Peer& peer, int64_t fastest_us, int64_t now_us);
  // Hands chunk `index` of `job` (queued, or already on another worker for
  // a speculative copy) to `worker`; `alone`: a suspect's run alone;
  // `run_first`: the worker runs it before the chunks queued there
  // (Assignment.run_first); `served`: nonzero, the job's client was served
  // now (Dispatch), its share's new served count (see JobChanged).
  void HandOut(BrokerJob& job, uint64_t index, const std::string& worker,
               Peer& peer, int64_t now_us, Outbox* out, bool alone = false,
               bool run_first = false, uint64_t served = 0);
  // Re-runs elsewhere the oldest chunk of a job held longer than
  // max(3 x its median chunk time, 1 s), while a worker is idle.
  void Speculate(int64_t now_us, Outbox* out);
  // When Speculate should look next: while chunks are out, every
  // kSpeculateEveryUs (a straggler is found within 100 ms of its threshold,
  // not at the next event); never while none is.
  int64_t NextSpeculationUs() const;
  // `worker`'s hand-out of chunk `index` ends without a result. Charges a
  // failure if `reason` calls for one; with no other hand-out left the
  // chunk is requeued, and a chunk out of attempts is split or failed
  // (ExhaustChunk). Returns false if that ended the job.
  bool RequeueChunk(BrokerJob& job, uint64_t index, const std::string& worker,
                    RequeueReason reason, const absl::Status& cause,
                    int64_t now_us, Outbox* out);
  // A queued chunk failed on every attempt: split it to isolate the item
  // that fails, or with one item left, fail the job naming the item (or,
  // skip_failed, report the item failed). Returns false if the job ended.
  bool ExhaustChunk(BrokerJob& job, uint64_t index, int64_t now_us,
                    Outbox* out);
  // Chunks `worker` gave back unstarted (Drain, ReturnQueued): requeued
  // for `reason`, without penalty; refs it does not hold are ignored.
  void RequeueGivenBack(
      const std::string& worker,
      const google::protobuf::RepeatedPtrField<v1::ChunkRef>& refs,
      RequeueReason reason, int64_t now_us, Outbox* out);
  // Requeues every chunk `worker` holds (kWorkerLost: with
  // kWorkerLostWithOthers if it held more than one).
  void RequeueWorkerChunks(const std::string& worker, RequeueReason reason,
                           const absl::Status& cause, int64_t now_us,
                           Outbox* out);
  // Tells `worker` to drop its copies of these chunks of `job`.
  void RevokeChunks(const std::string& worker, uint64_t job_id,
                    const std::vector<v1::ChunkRef>& chunks, int64_t now_us,
                    Outbox* out);
  void ExpireLeases(int64_t now_us, Outbox* out);
  void MaybeCompactLeases();
  // The job's run limit per hand-out (SubmitJob.chunk_timeout_ms or the
  // broker's), and its attempt limit.
  int64_t RunLimitMs(const BrokerJob& job) const;
  uint32_t MaxAttempts(const BrokerJob& job) const;

  // scheduler_attach.cc: jobs that outlive their client's connection.
  // A job just accepted: its token, submitter and idempotency key.
  void AdoptNewJob(BrokerJob& job, const InboundMessage& message);
  // A submit whose idempotency key names a running job attaches `client`
  // to it (answered like an AttachJob holding nothing); true if so.
  bool AttachRetriedSubmit(const std::string& client, Peer& peer,
                           const v1::SubmitJob& submit, int64_t now_us,
                           Outbox* out);
  // The client `peer` was lost: its jobs wait for a client to attach.
  void DetachJobs(Peer& peer, absl::string_view name, int64_t now_us);
  void OnAttachJob(const std::string& client, Peer& peer,
                   const InboundMessage& message, int64_t now_us, Outbox* out);
  // Moves `job` to `client` (a client holding it before gets
  // JobFinished{ABORTED}), queues what was lost with an earlier connection
  // to be computed again, answers JobAccepted and delivers what waits.
  void AttachTo(BrokerJob& job, const std::string& client, Peer& peer,
                uint64_t request_id, uint32_t window, const ItemRuns& have,
                int64_t now_us, Outbox* out);
  void OnAckResults(const std::string& client, const v1::AckResults& ack,
                    int64_t now_us, Outbox* out);
  // Cancels the jobs detached for longer than client_grace_ms.
  void ExpireDetached(int64_t now_us, Outbox* out);
  int64_t NextDetachedExpiryUs() const;

  // scheduler_suspects.cc: suspects run alone.
  // Hands each queued suspect, in job order, to an idle worker (holding
  // nothing) which then gets nothing else until it is done. Suspects left
  // waiting reserve workers (Peer::reserved, the least loaded first, at
  // most half of them so other work goes on) that take no new chunks and
  // so become idle soon.
  void DispatchSuspects(int64_t now_us, Outbox* out);
  // Keeps min(`waiting`, half the workers able to run one of `jobs`,
  // rounded up) workers reserved.
  void ReserveWorkers(uint64_t waiting, const std::vector<const BrokerJob*>& jobs);

  // scheduler_index.cc: the indexes that keep a hand-out O(log workers +
  // log clients) and a report O(1) amortized, whatever the cluster's size.
  // A new worker: its class, its place in the indexes.
  void AddWorker(Peer& peer);
  // Before a worker is erased from peers_.
  void RemoveWorker(Peer& peer);
  // Puts `peer` where its credit, held, draining, reserved and alone
  // fields say; call after any of them changed.
  void IndexWorker(Peer& peer);
  // After `peer`'s turnaround_us or stall changed.
  void IndexTurnaround(Peer& peer, int64_t now_us);
  // Hand-out `holder` ended (reported, requeued, revoked): its worker holds
  // one chunk less, its ticket is closed.
  void ReleaseHandOut(const Holder& holder);
  // The fastest worker's TurnaroundUs at `now_us`; -1 if none measured.
  int64_t FastestTurnaroundUs(int64_t now_us);
  // After anything about `job` changed (chunks, window, client, in
  // flight): its client's share and turn. `served`: nonzero, the share's
  // new served count, re-keyed together with its load (one re-ordering of
  // the shares per hand-out, not two).
  void JobChanged(BrokerJob& job, uint64_t served = 0);
  // Before `job` is erased from jobs_.
  void ForgetJobShare(BrokerJob& job);
  // Shares' loads are evaluated at now rounded down to kShareRefreshUs
  // (scheduler_index.cc): recomputed when that changes.
  void RefreshShares(int64_t now_us);
  // Re-keys `share` after its in-flight or usage changed.
  void RekeyShare(ClientShare& share);
  // Gives `share` a new load and served count, keeping its place in
  // shares_by_load_ and ready_shares_ right.
  void SetShareKey(ClientShare& share, int64_t load, uint64_t served);
  int64_t ShareLoad(const ClientShare& share) const;
  // Peer `id` was added (`peer`) or is about to be erased (nullptr): the
  // share of that client, if any, follows.
  void LinkSharePeer(const std::string& id, Peer* peer);
  void DropShareIfEmpty(ClientShare* share);
  // Whether another client's load is at least kUnderShareFactor times
  // `share`'s.
  bool UnderShare(const ClientShare& share) const;

  // Constant after construction.
  const SchedulerOptions options_;
  const TaskRegistry* const tasks_;
  // Makes client sessions' owner names unique across broker restarts, so a
  // worker never mistakes a new client for one whose runners it kept.
  const std::string session_nonce_;
  // Welcome.broker_epoch: new at every start.
  const uint64_t epoch_;
  std::function<void(absl::string_view)> logger_;
  SchedulerObserver* observer_ = nullptr;
  JournalSink* journal_ = nullptr;

  absl::node_hash_map<std::string, Peer> peers_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<ScheduledJob>> jobs_;
  // Jobs in submission order; dispatch walks it round-robin from ring_pos_.
  std::vector<uint64_t> job_ring_;
  size_t ring_pos_ = 0;
  uint64_t next_job_id_ = 1;
  // SubmitJob.idempotency_key -> the running job it started.
  absl::flat_hash_map<std::string, uint64_t> by_idempotency_key_;
  uint64_t next_client_session_ = 1;
  uint64_t next_worker_session_ = 1;
  LeaseDeadlines leases_;
  // Every hand-out's ticket (Holder::ticket, Lease::ticket,
  // HandOutRef::ticket): open while it is out, settled once started or
  // asked back.
  HandOutTable handout_table_;
  // False only if no worker is reserved (Peer::reserved) for a suspect.
  bool maybe_reserved_ = false;
  // When Speculate last looked for stragglers.
  int64_t last_speculate_us_ = std::numeric_limits<int64_t>::min() / 2;
  // The last look handed out copies: look again as soon as credit returns.
  bool speculating_ = false;
  // Lease heap size at which stale entries are next purged.
  size_t compact_at_ = 4096;
  SchedulerStats stats_;

  // Dispatch indexes (scheduler_index.cc).
  uint64_t worker_threads_ = 0;
  uint64_t next_worker_seq_ = 1;
  std::vector<std::unique_ptr<WorkerClass>> worker_classes_;
  absl::flat_hash_map<std::string, WorkerClass*> class_by_offer_;
  size_t ready_workers_ = 0;
  // TurnaroundUs of workers whose stall has faded out (or never had
  // one), and the workers whose stall still counts.
  absl::btree_multiset<int64_t> turnarounds_;
  absl::flat_hash_set<Peer*> stalled_;
  absl::node_hash_map<std::string, ClientShare> shares_;
  absl::btree_set<ClientShare*, LighterShare> shares_by_load_;
  absl::btree_set<ClientShare*, LighterShare> ready_shares_;
  int64_t load_at_us_ = std::numeric_limits<int64_t>::min();
  uint64_t next_share_seq_ = 1;
  uint64_t serve_count_ = 0;
  uint64_t total_in_flight_ = 0;
  // Ordinary hand-outs, oldest first, and those ReclaimQueued asked back:
  // entries whose hand-out ended or started are dropped lazily.
  // The worker is its holder's (found by attempt): entries stay small, as
  // the list is compacted by a walk over all of them.
  struct HandOutRef {
    uint64_t job_id = 0;
    uint64_t index = 0;
    uint32_t attempt = 0;
    HandOutTicket ticket;
  };
  // The holder `ref` names if that hand-out is still out; else nullptr.
  Holder* FindHandOut(const HandOutRef& ref);
  std::vector<HandOutRef> handouts_;
  size_t compact_handouts_at_ = 1024;
  std::vector<HandOutRef> returns_asked_;
  int64_t reclaim_at_us_ = std::numeric_limits<int64_t>::min();
  // What OnTick looks at, earliest first (deadline_heap.h): each entry is
  // due no later than what it stands for; stale ones are dropped as met.
  // Peers by (id, incarnation): when each may fall silent, and when each
  // is next owed a heartbeat. Jobs by id: timeouts, and grace periods of
  // detached jobs.
  struct PeerRef {
    std::string id;
    uint64_t incarnation = 0;
  };
  // The peer `ref` names, if still registered; else nullptr.
  Peer* LivePeer(const PeerRef& ref);
  uint64_t next_incarnation_ = 1;
  DeadlineHeap<PeerRef> silences_;
  DeadlineHeap<PeerRef> heartbeats_;
  DeadlineHeap<uint64_t> job_timeouts_;
  DeadlineHeap<uint64_t> detach_expiries_;
  // False only if no job has a suspect queued (DispatchSuspects).
  bool maybe_suspects_ = false;
};

}  // namespace tq

#endif  // TQ_BROKER_SCHEDULER_H_
