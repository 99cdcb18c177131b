// A worker's Python runners: long-lived `python -m tq.runner` processes that
// run users' cloudpickled functions, one chunk at a time each.
//
// Runners start on first use, never eagerly. Each serves one (owner,
// initializer) for life: code of one owner never runs in a process that ran
// another owner's code, and an initializer runs once per process. After a
// chunk a runner goes back to the idle set, or is retired after
// max_chunks_per_runner chunks. When max_runners processes exist and none
// fits, an idle runner of another owner or initializer is killed to make
// room. A runner that dies mid-chunk is reported (kRunnerFailed: the caller
// retries the chunk elsewhere) and replaced by the next Run, as loky does
// with its TerminatedWorkerError.
//
// Usage, on the worker's pool threads:
//   TQ_ASSIGN_OR_RETURN(std::unique_ptr<PythonRunners> runners,
//                       PythonRunners::Create(options));
//   PythonOutcome outcome = runners->Run(chunk);   // blocks while it runs
//   ...and from the session's thread, when a job is cancelled:
//   runners->CancelJob(job_id);                    // its Runs end promptly
#ifndef TQ_WORKER_RUNNERS_PYTHON_RUNNERS_H_
#define TQ_WORKER_RUNNERS_PYTHON_RUNNERS_H_

#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "worker/runners/forking_thread.h"
#include "worker/runners/python_chunk.h"
#include "worker/runners/python_runners_options.h"
#include "worker/runners/runner_launch.h"
#include "worker/runners/runner_process.h"

namespace tq {

struct PythonRunnersStats {
  int live = 0;         // runner processes alive: idle, busy or starting
  int busy = 0;         // of which running (or starting for) a chunk
  uint64_t starts = 0;  // processes started
  // Processes lost without being asked to go: crashed, exited, killed by
  // someone else (OOM killer), or broke the protocol.
  uint64_t deaths = 0;
  uint64_t cancels = 0;  // killed by CancelJob
  // Killed on purpose: max_chunks_per_runner reached, initializer failed,
  // or the slot was needed for another owner or initializer.
  uint64_t retirements = 0;
};

// Thread-safe: Run, CancelJob and stats may be called from any thread, Run
// from up to max_runners threads at once (more callers wait for a runner).
class PythonRunners {
 public:
  // Resolves the interpreter and code user and snapshots the environment;
  // starts no process. Errors name the option at fault.
  static absl::StatusOr<std::unique_ptr<PythonRunners>> Create(
      PythonRunnersOptions options);
  // Kills every runner. No Run may be in progress.
  ~PythonRunners();
  PythonRunners(const PythonRunners&) = delete;
  PythonRunners& operator=(const PythonRunners&) = delete;

  // Runs one chunk in a runner of chunk.owner and chunk.initializer, and
  // blocks until it is done, however long the user's code takes. Never
  // fails otherwise: every problem is in the outcome.
  PythonOutcome Run(const PythonChunk& chunk);

  // SIGKILLs every runner running a chunk of `job_id` (and what it forked);
  // their Run calls return kCancelled at once. Runs of the job that start
  // after this call run normally: the caller drops them. Killed runners are
  // replaced by later Runs.
  void CancelJob(uint64_t job_id);
  // The same for the runner running chunk `chunk_index` of `job_id` only
  // (RevokeJob naming chunks, or a chunk past its run limit).
  void CancelChunk(uint64_t job_id, uint64_t chunk_index);

  PythonRunnersStats stats() const;
  const PythonRunnersOptions& options() const { return options_; }
  // The runners' command line, for logs: "/usr/bin/python3 -m tq.runner".
  std::string CommandLine() const { return launch_->CommandLine(); }

 private:
  struct Slot;

  // Kills the busy runners of `job_id` (only the one on `chunk_index` if
  // given).
  void Cancel(uint64_t job_id, std::optional<uint64_t> chunk_index);

  PythonRunners(PythonRunnersOptions options,
                std::unique_ptr<const RunnerLaunch> launch);
  // Finds or makes the slot `chunk` runs in, waiting while every slot is
  // busy; processes it displaced go to `discarded` (killed outside the lock).
  Slot* TakeSlotLocked(const PythonChunk& chunk,
                       std::unique_lock<std::mutex>& lock,
                       std::list<std::unique_ptr<RunnerProcess>>* discarded);
  std::unique_ptr<RunnerProcess> RemoveSlotLocked(const Slot* slot);
  // Starts the slot's process; an outcome if that failed or was cancelled.
  std::optional<PythonOutcome> StartProcess(Slot* slot,
                                            const PythonChunk& chunk);
  // Sends the chunk, resending the code if the runner lacks it.
  absl::StatusOr<RunnerReply> Exchange(Slot* slot, const PythonChunk& chunk);
  // Gives the slot back (or ends its runner) and builds the outcome.
  PythonOutcome Finish(Slot* slot, const PythonChunk& chunk,
                       absl::StatusOr<RunnerReply> reply);

  // Constant after construction.
  const PythonRunnersOptions options_;
  const std::unique_ptr<const RunnerLaunch> launch_;
  ForkingThread forking_thread_;

  // std::mutex, not absl::Mutex, as in worker/thread_pool.h: absl::Mutex's
  // first contended wait sleeps to calibrate its clock on most VMs.
  mutable std::mutex mutex_;
  std::condition_variable slot_freed_;
  // State below is protected by mutex_ (and see Slot for its fields).
  std::list<std::unique_ptr<Slot>> slots_;
  uint64_t use_clock_ = 0;  // orders idle slots by last use
  PythonRunnersStats stats_;
};

}  // namespace tq

#endif  // TQ_WORKER_RUNNERS_PYTHON_RUNNERS_H_
