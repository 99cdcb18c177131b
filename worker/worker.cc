// The worker loop: one thread owns the DEALER socket and drives the
// WorkerSession; pool threads run chunks and hand reports back through the
// CompletionQueue. Policy per iteration: poll {socket, completions, stop}
// until the session's next deadline, then feed the session everything that
// arrived (stop first, then finished chunks in one batch, then messages),
// tick it, and carry out what it decided.
#include "worker/worker.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/broker_endpoints.h"
#include "common/clock.h"
#include "common/cpu_count.h"
#include "common/curve.h"
#include "common/handshake_monitor.h"
#include "common/protocol.h"
#include "common/status_macros.h"
#include "common/wakeup.h"
#include "common/zmq_socket.h"
#include "tasks/task.h"
#include "worker/chunk_runner.h"
#include "worker/code_chunk_runner.h"
#include "worker/completion_queue.h"
#include "worker/runners/probe_python.h"
#include "worker/runners/python_runners.h"
#include "worker/thread_pool.h"
#include "worker/worker_session.h"

namespace tq {
namespace {

// Messages read per iteration before serving completions and timers again.
constexpr int kMaxReceivesPerIteration = 256;
// Upper bound on one poll, so a missed wake costs at most this much.
constexpr int64_t kMaxPollMs = 1000;

}  // namespace

WorkerOptions ResolveWorkerOptions(WorkerOptions options) {
  if (options.threads == 0) options.threads = UsableCpuCount();
  if (options.name.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    options.name = absl::StrCat(host[0] ? host : "worker", ":", getpid());
  }
  return options;
}

class Worker::Loop {
 public:
  Loop(WorkerOptions options, zmq::context_t* context)
      : options_(ResolveWorkerOptions(std::move(options))),
        owned_context_(context == nullptr ? std::make_unique<zmq::context_t>()
                                          : nullptr),
        context_(context != nullptr ? context : owned_context_.get()) {}

  int threads() const { return options_.threads; }

  void Stop() {
    // Async-signal-safe: a lock-free store and an eventfd write.
    stop_requested_.store(true, std::memory_order_relaxed);
    stop_wakeup_.Notify();
  }

  absl::Status Run() {
    // Resolving the options changed nothing this judges.
    TQ_RETURN_IF_ERROR(ValidateWorkerOptions(options_));
    if (ran_.exchange(true)) {
      return absl::FailedPreconditionError("Worker::Run called twice");
    }
    std::string warning;
    absl::StatusOr<std::vector<BrokerEndpoint>> endpoints = ParseBrokerEndpoints(
        options_.broker, options_.curve_key_file,
        options_.curve_server_key_file, &warning);
    if (!endpoints.ok()) {
      return absl::InvalidArgumentError(endpoints.status().message());
    }
    if (!warning.empty()) fprintf(stderr, "tq-worker: %s\n", warning.c_str());
    endpoints_ = *std::move(endpoints);
    WorkerCapabilities capabilities{
        BuiltinTasks().Names(options_.enable_test_tasks), {}};
    TQ_RETURN_IF_ERROR(StartRunners(&capabilities));
    WorkerSession session(options_, std::move(capabilities));
    auto pool = std::make_unique<ThreadPool>(options_.threads);
    absl::Status status = Serve(session, *pool);
    if (session.wedged()) {
      // A thread runs a chunk that ignored its cancellation and may never
      // return: joining would hang. Leave the pool (and what its threads
      // may still use) to the process's exit, which the caller is told to
      // do by the kAborted status (tq-worker exits kExitWorkerWedged).
      (void)pool.release();
      (void)code_chunks_.release();
      (void)python_runners_.release();
      return status;
    }
    // Joins the threads, so chunks of lost sessions finish before Run()
    // returns.
    pool.reset();
    code_chunks_.reset();
    python_runners_.reset();  // no Run is in progress: the pool is joined
    return status;
  }

 private:
  absl::Status Serve(WorkerSession& session, ThreadPool& pool) {
    TQ_RETURN_IF_ERROR(Connect());
    session.OnConnected(MonotonicNowUs());
    Execute(session, pool);
    std::vector<zmq::pollitem_t> items = {
        {nullptr, 0, ZMQ_POLLIN, 0},
        {nullptr, completions_->fd(), ZMQ_POLLIN, 0},
        {nullptr, stop_wakeup_.fd(), ZMQ_POLLIN, 0},
    };
    while (!session.done()) {
      int64_t now = MonotonicNowUs();
      int64_t wait_ms = kMaxPollMs;
      int64_t deadline = session.NextDeadlineUs();
      if (deadline != WorkerSession::kNoDeadline) {
        wait_ms =
            std::clamp<int64_t>((deadline - now + 999) / 1000, 0, kMaxPollMs);
      }
      items[0].socket = socket_->handle();  // a reconnect replaces the socket
      PollIgnoringEintr(items, std::chrono::milliseconds(wait_ms));
      now = MonotonicNowUs();
      if (stop_requested_.load(std::memory_order_relaxed)) {
        stop_wakeup_.Drain();
        session.OnStopRequested(now);
      }
      // Only when woken for them: a report pushed since the poll makes the
      // next poll return at once, so nothing waits; an idle check would
      // cost a read and a lock per turn.
      std::vector<ChunkDone> finished;
      if (items[1].revents & ZMQ_POLLIN) finished = completions_->TakeAll();
      if (monitor_ != nullptr) {
        for (const ChunkDone& done : finished) {
          monitor_->OnChunkFinished(done.report);
        }
      }
      if (!finished.empty()) session.OnChunksFinished(std::move(finished), now);
      for (int i = 0; i < kMaxReceivesPerIteration && !session.done(); ++i) {
        std::optional<Received> received = TryReceive(*socket_, false);
        if (!received) break;
        if (monitor_ != nullptr) monitor_->AddReceivedBytes(received->bytes);
        if (!received->envelope.ok()) {
          Log(absl::StrCat("dropped a bad message from the broker: ",
                           received->envelope.status().ToString()));
          continue;
        }
        session.OnMessage(*std::move(received->envelope), received->payloads,
                          now);
      }
      session.OnTick(now);
      ReportHandshakeFailures(now);
      if (session.TakeReconnect()) {
        Execute(session, pool);  // anything decided before the loss
        TQ_RETURN_IF_ERROR(Connect());
        session.OnConnected(MonotonicNowUs());
      }
      Execute(session, pool);
      if (monitor_ != nullptr) {
        monitor_->OnLoopIteration(
            now, {.busy_threads = busy_threads_->load(std::memory_order_relaxed),
                  .capacity = session.capacity(),
                  .connected = session.welcomed()});
      }
    }
    if (monitor_ != nullptr) monitor_->OnStopped(session.capacity());
    handshakes_ = nullptr;  // before the socket it watches
    socket_.reset();
    return session.status();
  }

  // With --allow-code=python: checks the interpreter once (unless the
  // version to announce is given) and prepares the runners, which start on
  // first use. Adds the runtime to what Hello announces.
  // (ValidateWorkerOptions allowed only "python".)
  absl::Status StartRunners(WorkerCapabilities* capabilities) {
    if (options_.allow_code.empty()) return absl::OkStatus();
    PythonRunnersOptions runners;
    runners.python = options_.python;
    if (!options_.python_path.empty()) runners.python_path = {options_.python_path};
    runners.max_runners = options_.threads;
    runners.code_user = options_.code_user;
    PythonInfo info{options_.python_version, options_.python_detail};
    if (info.version.empty()) {
      absl::StatusOr<PythonInfo> probed = ProbePython(runners);
      if (!probed.ok()) {
        return absl::Status(probed.status().code(),
                            absl::StrCat("--python: ", probed.status().message()));
      }
      info = *std::move(probed);
    }
    absl::StatusOr<std::unique_ptr<PythonRunners>> created =
        PythonRunners::Create(runners);
    if (!created.ok()) return created.status();
    python_runners_ = *std::move(created);
    code_chunks_ = std::make_unique<CodeChunkRunner>(python_runners_.get());
    v1::Runtime runtime;
    runtime.set_name("python");
    runtime.set_version(info.version);
    runtime.set_detail(info.detail);
    capabilities->runtimes.push_back(runtime);
    Log(absl::StrCat("runs python ", info.version, " code (", info.detail,
                     ") with ", python_runners_->CommandLine()));
    return absl::OkStatus();
  }

  // Opens a fresh DEALER to the broker. A new socket per session: the old
  // one may hold a queued Hello or reports that must never reach the broker.
  absl::Status Connect() {
    const BrokerEndpoint& endpoint = endpoints_[next_endpoint_];
    next_endpoint_ = (next_endpoint_ + 1) % endpoints_.size();
    handshakes_ = nullptr;  // before the socket it watches
    if (socket_) {
      // Whatever the dropped socket still queues (a stale Hello, reports of
      // the lost session) must never reach the broker: no linger.
      socket_->set(zmq::sockopt::linger, 0);
      socket_.reset();
    }
    try {
      socket_ =
          std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::dealer);
      ConfigureSocket(*socket_);
      if (endpoint.curve.has_value()) {
        if (absl::Status s = ApplyCurveClient(*socket_, *endpoint.curve);
            !s.ok()) {
          socket_.reset();
          return s;
        }
      }
      // Watched so that a refused handshake is reported, not just silence
      // (inproc, the embedded cluster, has no handshake to watch).
      if (!absl::StartsWith(endpoint.address, "inproc://")) {
        auto monitor = HandshakeMonitor::Attach(
            *context_, *socket_, endpoint.address, endpoint.curve.has_value());
        if (monitor.ok()) handshakes_ = *std::move(monitor);
      }
      socket_->connect(endpoint.address);
    } catch (const zmq::error_t& e) {
      handshakes_ = nullptr;
      socket_.reset();
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot connect to broker '", endpoint.address, "': ", e.what()));
    }
    ++connects_;
    if (monitor_ != nullptr) monitor_->OnSessionStarted();
    if (connects_ > 1) Log(absl::StrCat("reconnecting to ", endpoint.address));
    return absl::OkStatus();
  }

  // Logs a failed handshake (always: it is a set-up error the operator must
  // see) once per distinct reason, or again after 30 s; libzmq and the
  // session keep retrying with back-off.
  void ReportHandshakeFailures(int64_t now) {
    if (handshakes_ == nullptr) return;
    handshakes_->Poll();
    std::string failure = handshakes_->Diagnosis();
    if (failure.empty()) return;
    if (failure == last_handshake_failure_ &&
        now - last_handshake_log_us_ < 30'000'000) {
      return;
    }
    fprintf(stderr, "tq-worker: %s; retrying\n", failure.c_str());
    last_handshake_failure_ = failure;
    last_handshake_log_us_ = now;
  }

  // Carries out the session's decisions.
  void Execute(WorkerSession& session, ThreadPool& pool) {
    std::vector<WorkerMessage> outgoing = session.TakeOutgoing();
    for (size_t i = 0; i < outgoing.size(); ++i) {
      WorkerMessage& message = outgoing[i];
      absl::StatusOr<size_t> sent =
          Send(*socket_, message.envelope, message.payloads);
      if (sent.ok()) {
        if (monitor_ != nullptr) monitor_->AddSentBytes(*sent);
        continue;
      }
      // The socket refused it (its queue to the broker is full): the
      // session keeps it and what follows, in order, and retries; nothing
      // is dropped silently. Cut off half-way, the socket is unusable.
      const bool retryable =
          !absl::StrContains(sent.status().message(), "mid-message");
      session.OnSendFailed(
          std::vector<WorkerMessage>(std::make_move_iterator(outgoing.begin() + i),
                                     std::make_move_iterator(outgoing.end())),
          sent.status(), retryable, MonotonicNowUs());
      break;
    }
    for (const std::string& note : session.TakeNotes()) Log(note);
    // A revoked job's running code chunks stop now (their runners are
    // killed); their reports are stale at the broker. Built-in tasks stop
    // by their CancelToken, which the session set.
    for (uint64_t job_id : session.TakeRevokedJobs()) {
      if (code_chunks_ != nullptr) code_chunks_->CancelJob(job_id);
    }
    for (const auto& [job_id, chunk_index] : session.TakeCancelledCodeChunks()) {
      if (code_chunks_ != nullptr) code_chunks_->CancelChunk(job_id, chunk_index);
    }
    std::vector<ChunkWork> to_start = session.TakeChunksToStart();
    std::vector<std::function<void()>> work;
    work.reserve(to_start.size());
    // The work holds what it uses, not `this`: a wedged chunk's thread may
    // outlive this loop (see Run()).
    for (ChunkWork& chunk : to_start) {
      work.push_back([completions = completions_, busy = busy_threads_,
                      code_chunks = code_chunks_.get(),
                      test_tasks = options_.enable_test_tasks,
                      chunk = std::move(chunk)] {
        busy->fetch_add(1, std::memory_order_relaxed);
        ChunkDone done =
            !chunk.assignment.has_code()
                ? RunTaskChunk(BuiltinTasks(), chunk, test_tasks)
            : code_chunks != nullptr ? code_chunks->Run(chunk)
                                     : RefuseCode(chunk);
        busy->fetch_sub(1, std::memory_order_relaxed);
        done.run_id = chunk.run_id;
        completions->Push(std::move(done));
      });
    }
    pool.ScheduleAll(std::move(work));
  }

  // A code chunk reached a worker that runs no code (a broker bug or a
  // hostile one): a retryable failure, so it goes elsewhere.
  static ChunkDone RefuseCode(const ChunkWork& chunk) {
    ChunkDone done;
    done.report.set_job_id(chunk.assignment.job_id());
    done.report.set_chunk_index(chunk.assignment.chunk_index());
    done.report.set_attempt(chunk.assignment.attempt());
    *done.report.mutable_error() = ErrorFromStatus(
        absl::FailedPreconditionError(
            "this worker runs no code (start it with --allow-code=python)"),
        chunk.assignment.job_id());
    return done;
  }

  void Log(const std::string& line) {
    if (options_.verbose) fprintf(stderr, "tq-worker: %s\n", line.c_str());
  }

  // Constant after construction.
  const WorkerOptions options_;
  std::unique_ptr<zmq::context_t> owned_context_;
  zmq::context_t* const context_;
  // options_.monitor, if any (the options keep it alive); told by the Run()
  // thread only.
  WorkerMonitor* const monitor_ = options_.monitor.get();

  // Touched from any thread (and signal handlers).
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> ran_{false};
  Wakeup stop_wakeup_;
  // Shared with the pool's work (see Execute).
  const std::shared_ptr<CompletionQueue> completions_ =
      std::make_shared<CompletionQueue>();
  // Pool threads inside RunChunk now (a gauge; relaxed is enough).
  const std::shared_ptr<std::atomic<int>> busy_threads_ =
      std::make_shared<std::atomic<int>>(0);

  // Owned by the thread in Run(); the runners are used by pool threads
  // while it serves, and outlive the pool.
  std::unique_ptr<PythonRunners> python_runners_;
  std::unique_ptr<CodeChunkRunner> code_chunks_;
  std::unique_ptr<zmq::socket_t> socket_;
  int connects_ = 0;
  // --broker's endpoints (at least one), each session on the next.
  std::vector<BrokerEndpoint> endpoints_;
  size_t next_endpoint_ = 0;
  std::unique_ptr<HandshakeMonitor> handshakes_;
  std::string last_handshake_failure_;
  int64_t last_handshake_log_us_ = 0;
};

Worker::Worker(WorkerOptions options, zmq::context_t* context)
    : loop_(std::make_unique<Loop>(std::move(options), context)) {}

Worker::~Worker() = default;

int Worker::threads() const { return loop_->threads(); }

absl::Status Worker::Run() { return loop_->Run(); }

void Worker::Stop() { loop_->Stop(); }

}  // namespace tq
