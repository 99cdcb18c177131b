// PoolCore and JobCore: the client library's Pool and Job as the Python
// binding holds them. Python objects die in any order and on any thread (a
// generator abandoned mid-job, a Pool closed while another thread polls),
// but the library needs every Job destroyed before its Pool and never a Job
// destroyed under a thread using it. So:
//   * a JobCore keeps its PoolCore alive (shared_ptr);
//   * PoolCore::Close() cancels and destroys every job it handed out (each
//     waits for calls in progress, which the cancel ends at once), then
//     destroys the Pool; later calls fail with kFailedPrecondition;
//   * every call counts itself in and out, so destruction waits for it.
// No Python here: callers release the GIL around every method (all may
// block) and convert Status to Python exceptions.
//
// Thread safety: every method of both classes is thread-safe. The library's
// rule that one thread at a time reads or appends a job stays the caller's.
#ifndef TQ_PYTHON_NATIVE_POOL_CORE_H_
#define TQ_PYTHON_NATIVE_POOL_CORE_H_

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/job.h"
#include "client/job_spec.h"
#include "client/options.h"
#include "client/pool.h"

namespace tq::python {

class PoolCore;

// Counts calls in progress on an object that may be destroyed, so the
// destroyer can wait for them. std::mutex, not absl::Mutex: see
// worker/thread_pool.h.
class CallGate {
 public:
  // False once Close() began: the caller must not touch the object.
  bool Enter();
  void Leave();
  // Refuses new calls, then waits for those in progress to Leave().
  // Returns false if another Close() came first.
  bool Close();
  bool closed();

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int active_ = 0;       // guarded by mu_
  bool closed_ = false;  // guarded by mu_
};

class JobCore {
 public:
  JobCore(std::shared_ptr<PoolCore> pool, std::unique_ptr<Job> job);
  ~JobCore();
  JobCore(const JobCore&) = delete;
  JobCore& operator=(const JobCore&) = delete;

  // See client/job.h. After Destroy(): kFailedPrecondition ("closed").
  absl::StatusOr<JobEvent> Poll(bool ordered, absl::Duration timeout);
  absl::Status Append(InputChunk chunk);
  absl::Status EndInput();
  absl::StatusOr<size_t> InputRoom();
  absl::StatusOr<std::optional<UserCodeError>> user_code_error();
  // Cancels the job (returns at once); a no-op after Destroy().
  void Cancel();

  // Constant after construction.
  uint64_t id() const { return id_; }
  uint32_t window() const { return window_; }
  // Job::token(): 16 bytes that let another process attach.
  const std::string& token() const { return token_; }

  // Cancels the job, waits for calls in progress and destroys the library
  // Job. Called by PoolCore::Close() and ~JobCore.
  void Destroy();

 private:
  const std::shared_ptr<PoolCore> pool_;  // outlives job_
  const uint64_t id_;
  const uint32_t window_;
  const std::string token_;
  CallGate gate_;
  // Written only by Destroy() once gate_ is closed and drained.
  std::unique_ptr<Job> job_;
};

class PoolCore : public std::enable_shared_from_this<PoolCore> {
 public:
  // Pool::Connect.
  static absl::StatusOr<std::shared_ptr<PoolCore>> Connect(
      ClientOptions options);
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  // Pool::Submit; the job is destroyed by Close() if still alive then.
  absl::StatusOr<std::shared_ptr<JobCore>> Submit(const JobSpec& spec);
  // Pool::Attach, likewise.
  absl::StatusOr<std::shared_ptr<JobCore>> Attach(const AttachSpec& spec);
  absl::StatusOr<std::string> StatusJson();
  // Destroys every job, then the Pool (stopping an embedded cluster). Waits
  // for calls in progress, and for a Close() in progress on another thread:
  // when it returns the pool is gone. Idempotent.
  void Close();
  bool closed() { return gate_.closed(); }

  // Constant after Connect (read from the Pool then).
  const std::vector<std::string>& tasks() const { return tasks_; }
  const std::vector<std::string>& code_runtimes() const {
    return code_runtimes_;
  }
  const std::string& endpoint() const { return endpoint_; }
  bool embedded() const { return embedded_; }
  int worker_threads() const { return worker_threads_; }

 private:
  explicit PoolCore(std::unique_ptr<Pool> pool);
  // A job Submit or Attach made, kept to be destroyed by Close().
  absl::StatusOr<std::shared_ptr<JobCore>> Keep(
      absl::StatusOr<std::unique_ptr<Job>> job);

  const std::vector<std::string> tasks_;
  const std::vector<std::string> code_runtimes_;
  const std::string endpoint_;
  const bool embedded_;
  const int worker_threads_;

  friend class JobCore;
  // A JobCore's library Job was destroyed (JobCore::Destroy).
  void JobGone();

  std::mutex close_mu_;  // held through Close(): a second caller waits
  CallGate gate_;
  std::mutex jobs_mu_;
  std::condition_variable jobs_gone_;
  std::vector<std::weak_ptr<JobCore>> jobs_;  // guarded by jobs_mu_
  // Library Jobs not yet destroyed: Close() waits for none, since a JobCore
  // being destroyed on another thread no longer shows in jobs_.
  int live_jobs_ = 0;  // guarded by jobs_mu_
  // Destroyed by Close() once gate_ is closed and drained.
  std::unique_ptr<Pool> pool_;
};

}  // namespace tq::python

#endif  // TQ_PYTHON_NATIVE_POOL_CORE_H_
