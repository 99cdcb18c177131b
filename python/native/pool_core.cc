#include "python/native/pool_core.h"

#include <utility>

namespace tq::python {
namespace {

absl::Status Closed() {
  return absl::FailedPreconditionError("the pool is closed");
}

}  // namespace

bool CallGate::Enter() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  ++active_;
  return true;
}

void CallGate::Leave() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--active_ == 0) idle_.notify_all();
}

bool CallGate::Close() {
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) return false;
  closed_ = true;
  idle_.wait(lock, [this] { return active_ == 0; });
  return true;
}

bool CallGate::closed() {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

// Enters a gate for one call; `ok` says whether the object may be used.
class GateUse {
 public:
  explicit GateUse(CallGate& gate) : gate_(gate), ok_(gate.Enter()) {}
  ~GateUse() {
    if (ok_) gate_.Leave();
  }
  bool ok() const { return ok_; }

 private:
  CallGate& gate_;
  const bool ok_;
};

JobCore::JobCore(std::shared_ptr<PoolCore> pool, std::unique_ptr<Job> job)
    : pool_(std::move(pool)),
      id_(job->id()),
      window_(job->window()),
      token_(job->token()),
      job_(std::move(job)) {}

JobCore::~JobCore() { Destroy(); }

absl::StatusOr<JobEvent> JobCore::Poll(bool ordered, absl::Duration timeout) {
  GateUse use(gate_);
  if (!use.ok()) return Closed();
  return job_->Poll(ordered, timeout);
}

absl::Status JobCore::Append(InputChunk chunk) {
  GateUse use(gate_);
  if (!use.ok()) return Closed();
  return job_->Append(std::move(chunk));
}

absl::Status JobCore::EndInput() {
  GateUse use(gate_);
  if (!use.ok()) return Closed();
  return job_->EndInput();
}

absl::StatusOr<size_t> JobCore::InputRoom() {
  GateUse use(gate_);
  if (!use.ok()) return Closed();
  return job_->InputRoom();
}

absl::StatusOr<std::optional<UserCodeError>> JobCore::user_code_error() {
  GateUse use(gate_);
  if (!use.ok()) return Closed();
  return job_->user_code_error();
}

void JobCore::Cancel() {
  GateUse use(gate_);
  if (use.ok()) job_->Cancel();
}

void JobCore::Destroy() {
  // Cancel first: a Poll in progress returns at once instead of at the end
  // of its timeout, so closing the gate does not wait for it.
  Cancel();
  if (!gate_.Close()) return;
  job_.reset();
  pool_->JobGone();
}

absl::StatusOr<std::shared_ptr<PoolCore>> PoolCore::Connect(
    ClientOptions options) {
  absl::StatusOr<std::unique_ptr<Pool>> pool =
      Pool::Connect(std::move(options));
  if (!pool.ok()) return pool.status();
  return std::shared_ptr<PoolCore>(new PoolCore(*std::move(pool)));
}

PoolCore::PoolCore(std::unique_ptr<Pool> pool)
    : tasks_(pool->tasks()),
      code_runtimes_(pool->code_runtimes()),
      endpoint_(pool->endpoint()),
      embedded_(pool->embedded()),
      worker_threads_(pool->worker_threads()),
      pool_(std::move(pool)) {}

PoolCore::~PoolCore() { Close(); }

absl::StatusOr<std::shared_ptr<JobCore>> PoolCore::Submit(const JobSpec& spec) {
  GateUse use(gate_);
  if (!use.ok()) return Closed();
  return Keep(pool_->Submit(spec));
}

absl::StatusOr<std::shared_ptr<JobCore>> PoolCore::Attach(
    const AttachSpec& spec) {
  GateUse use(gate_);
  if (!use.ok()) return Closed();
  return Keep(pool_->Attach(spec));
}

absl::StatusOr<std::shared_ptr<JobCore>> PoolCore::Keep(
    absl::StatusOr<std::unique_ptr<Job>> job) {
  if (!job.ok()) return job.status();
  auto core = std::make_shared<JobCore>(shared_from_this(), *std::move(job));
  std::lock_guard<std::mutex> lock(jobs_mu_);
  ++live_jobs_;
  // Forget the jobs already gone, so a long-lived pool's list stays short.
  std::erase_if(jobs_,
                [](const std::weak_ptr<JobCore>& j) { return j.expired(); });
  jobs_.push_back(core);
  return core;
}

absl::StatusOr<std::string> PoolCore::StatusJson() {
  GateUse use(gate_);
  if (!use.ok()) return Closed();
  return pool_->StatusJson();
}

void PoolCore::JobGone() {
  std::lock_guard<std::mutex> lock(jobs_mu_);
  if (--live_jobs_ == 0) jobs_gone_.notify_all();
}

void PoolCore::Close() {
  std::lock_guard<std::mutex> closing(close_mu_);
  // Waits for Submit calls in progress, so every job is in jobs_ below.
  if (!gate_.Close()) return;
  std::vector<std::weak_ptr<JobCore>> jobs;
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    jobs.swap(jobs_);
  }
  for (const std::weak_ptr<JobCore>& weak : jobs) {
    if (std::shared_ptr<JobCore> job = weak.lock()) job->Destroy();
  }
  {
    // Jobs whose last reference was dropped on another thread meanwhile.
    std::unique_lock<std::mutex> lock(jobs_mu_);
    jobs_gone_.wait(lock, [this] { return live_jobs_ == 0; });
  }
  pool_.reset();
}

}  // namespace tq::python
