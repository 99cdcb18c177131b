#include "client/pool.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/curve.h"
#include "common/status_macros.h"
#include "tasks/task.h"

namespace tq {
namespace {

// The broker's default max_result_window; asking more only gets this.
constexpr uint32_t kMaxAutomaticWindow = 256;

// Memory the automatic window lets one job's results take up (in flight,
// buffered at the broker, or waiting in the reorder buffer).
constexpr uint64_t kResultBudgetBytes = 32 << 20;

// A generous guess at one chunk's result size: the spec's chunk size, or
// the task's largest (what the broker picks for big jobs), times the bytes
// an item's result takes on the wire.
uint64_t ResultBytesPerChunk(const JobSpec& spec) {
  constexpr uint64_t kCountResult = 16;
  if (spec.reduction == Reduction::kCount) return kCountResult;
  const Task* task = BuiltinTasks().Find(spec.task);
  if (task == nullptr) return kResultBudgetBytes;  // the broker will refuse it
  const v1::Reduction none = v1::REDUCTION_NONE;
  const uint64_t items =
      spec.chunk_size != 0 ? spec.chunk_size : task->sizing(none).max_items;
  switch (task->shape()) {
    case ResultShape::kBool: return std::max<uint64_t>(kCountResult, items / 8);
    case ResultShape::kValue: return items * 10;  // varint uint64
    case ResultShape::kValueList: return items * 40;
  }
  return kResultBudgetBytes;
}

// Large enough to keep every worker thread busy twice over, and where
// results are small (counts, no-ops) up to the broker's cap so that many
// chunks share each message; else as many chunks as the budget holds.
uint32_t AutomaticWindow(const JobSpec& spec, uint32_t worker_threads) {
  const uint64_t by_memory = kResultBudgetBytes / ResultBytesPerChunk(spec);
  const uint64_t busy = std::max<uint64_t>(16, 2ull * worker_threads);
  return static_cast<uint32_t>(
      std::min<uint64_t>(kMaxAutomaticWindow, std::max(busy, by_memory)));
}

absl::StatusOr<v1::SubmitJob> ToSubmit(const JobSpec& spec, JobInput* input) {
  v1::SubmitJob submit;
  submit.set_task(spec.task);
  if (const auto* range = std::get_if<NumberRange>(&spec.input)) {
    if (range->lo > range->hi) {
      return absl::InvalidArgumentError(absl::StrCat(
          "range start ", range->lo, " is greater than its end ", range->hi));
    }
    submit.mutable_range()->set_first(range->lo);
    submit.mutable_range()->set_last(range->hi);
    input->is_range = true;
    input->lo = range->lo;
    input->hi = range->hi;
  } else {
    const auto& items = std::get<std::vector<uint64_t>>(spec.input);
    if (items.empty()) {
      return absl::InvalidArgumentError("the input list is empty");
    }
    if (items.size() > kMaxListItemsPerJob) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the input list has ", items.size(), " numbers; one job takes at most ",
          kMaxListItemsPerJob, " (submit the rest as further jobs)"));
    }
    submit.mutable_items()->mutable_values()->Add(items.begin(), items.end());
    input->is_range = false;
    input->items = items;
  }
  submit.set_chunk_size(spec.chunk_size);
  submit.set_reduction(spec.reduction == Reduction::kCount
                           ? v1::REDUCTION_COUNT
                           : v1::REDUCTION_NONE);
  for (const auto& [key, value] : spec.params) {
    (*submit.mutable_params())[key] = value;
  }
  return submit;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pool>> Pool::Connect(ClientOptions options) {
  std::unique_ptr<Pool> pool(new Pool);
  pool->options_ = options;
  zmq::context_t* context;
  std::string endpoint = options.broker;
  if (endpoint.empty()) {
    TQ_ASSIGN_OR_RETURN(pool->cluster_,
                        EmbeddedCluster::Start(options.embedded_threads));
    context = &pool->cluster_->context();
    endpoint = pool->cluster_->endpoint();
  } else {
    pool->own_context_ = std::make_unique<zmq::context_t>();
    context = pool->own_context_.get();
  }
  std::string warning;
  TQ_ASSIGN_OR_RETURN(
      std::optional<CurveClientKeys> curve,
      LoadCurveClientKeys(options.curve_key_file, options.curve_server_key_file,
                          &warning));
  if (!warning.empty()) fprintf(stderr, "tq-client: %s\n", warning.c_str());
  if (curve.has_value() && options.broker.empty()) {
    return absl::InvalidArgumentError(
        "CURVE keys are for a remote broker; give --broker (or TQ_BROKER)");
  }
  TQ_ASSIGN_OR_RETURN(pool->session_,
                      BrokerSession::Open(*context, endpoint,
                                          options.connect_timeout_ms,
                                          options.name,
                                          curve ? &*curve : nullptr));
  return pool;
}

Pool::~Pool() {
  session_.reset();
  cluster_.reset();
  own_context_.reset();
}

std::vector<std::string> Pool::tasks() const {
  const auto& tasks = session_->welcome().tasks();
  return std::vector<std::string>(tasks.begin(), tasks.end());
}

const std::string& Pool::endpoint() const { return session_->endpoint(); }

int Pool::worker_threads() const {
  return static_cast<int>(session_->welcome().worker_threads());
}

absl::StatusOr<std::unique_ptr<Job>> Pool::Submit(const JobSpec& spec) {
  auto input = std::make_shared<JobInput>();
  TQ_ASSIGN_OR_RETURN(v1::SubmitJob submit, ToSubmit(spec, input.get()));
  uint32_t window = options_.result_window;
  if (window == 0) {
    // The embedded worker may not have said Hello before we did, so its
    // threads are not in the Welcome yet; we know them anyway.
    uint32_t threads = cluster_ ? static_cast<uint32_t>(cluster_->worker_threads())
                                : session_->welcome().worker_threads();
    window = AutomaticWindow(spec, threads);
  }
  TQ_ASSIGN_OR_RETURN(std::shared_ptr<JobState> state,
                      session_->Submit(std::move(submit), std::move(input),
                                       window));
  return std::make_unique<Job>(session_.get(), std::move(state));
}

absl::StatusOr<std::vector<ChunkResult>> Pool::Map(const JobSpec& spec) {
  TQ_ASSIGN_OR_RETURN(std::unique_ptr<Job> job, Submit(spec));
  std::vector<ChunkResult> results;
  while (true) {
    TQ_ASSIGN_OR_RETURN(std::optional<ChunkResult> chunk, job->Next());
    if (!chunk.has_value()) return results;
    results.push_back(*std::move(chunk));
  }
}

absl::StatusOr<v1::StatusReply> Pool::Status() { return session_->Status(); }

}  // namespace tq
