#include "client/pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tq {
namespace {

// The broker's default max_result_window; asking more only gets this.
constexpr uint32_t kMaxAutomaticWindow = 256;

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
  TQ_ASSIGN_OR_RETURN(pool->session_,
                      BrokerSession::Open(*context, endpoint,
                                          options.connect_timeout_ms,
                                          options.name));
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
    window = std::min<uint32_t>(kMaxAutomaticWindow,
                                std::max<uint32_t>(16, 4 * threads));
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

}  // namespace tq
