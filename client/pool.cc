#include "client/pool.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/job_plan.h"
#include "client/broker_session.h"
#include "client/embedded_cluster.h"
#include "client/status_view.h"
#include "common/curve.h"
#include "common/payload.h"
#include "common/protocol.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "tasks/task.h"
#include "zmq.hpp"

namespace tq {
namespace {

// Memory the automatic window lets one job's results take up (in flight,
// buffered at the broker, or waiting in the reorder buffer).
constexpr uint64_t kResultBudgetBytes = 32 << 20;

// A generous guess at one chunk's result size: the spec's chunk size, or
// the task's largest (what the broker picks for big jobs), times the bytes
// an item's result takes on the wire. Code jobs: the payload limit.
uint64_t ResultBytesPerChunk(const JobSpec& spec) {
  constexpr uint64_t kCountResult = 16;
  if (spec.reduction == Reduction::kCount) return kCountResult;
  if (spec.code.has_value()) return kMaxPayloadBytes;
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
uint32_t AutomaticWindow(const JobSpec& spec, uint32_t worker_threads,
                         uint32_t max_window) {
  const uint64_t by_memory = kResultBudgetBytes / ResultBytesPerChunk(spec);
  const uint64_t busy = std::max<uint64_t>(16, 2ull * worker_threads);
  return static_cast<uint32_t>(
      std::min<uint64_t>(max_window, std::max(busy, by_memory)));
}

// Items per chunk of a list job the library cuts: the spec's, else what the
// broker would choose for a range of that many items (so lists and ranges
// balance alike), within what a chunk of numbers may hold.
uint64_t ListChunkSize(const JobSpec& spec, size_t items,
                       uint32_t worker_threads) {
  if (spec.chunk_size != 0) return spec.chunk_size;
  const Task* task = BuiltinTasks().Find(spec.task);
  if (task == nullptr) return 4096;  // the broker will refuse the task
  const v1::Reduction reduction = spec.reduction == Reduction::kCount
                                      ? v1::REDUCTION_COUNT
                                      : v1::REDUCTION_NONE;
  ChunkSizing sizing = task->sizing(reduction);
  sizing.max_items = std::min(sizing.max_items, kMaxListChunkItems);
  return AutoChunkSize(items, worker_threads, sizing, task->shape());
}

v1::CallStyle WireCallStyle(CallStyle style) {
  switch (style) {
    case CallStyle::kMap: return v1::CALL_STYLE_MAP;
    case CallStyle::kStar: return v1::CALL_STYLE_STAR;
    case CallStyle::kApply: return v1::CALL_STYLE_APPLY;
  }
  return v1::CALL_STYLE_MAP;
}

// Adds a code blob to the submit: its digest in the spec, its bytes as a
// payload. Returns the digest.
absl::StatusOr<std::string> AddCodeBlob(const std::string& bytes,
                                        absl::string_view what,
                                        v1::SubmitJob* submit,
                                        std::vector<Payload>* payloads) {
  if (bytes.size() > kMaxPayloadBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", what, " is ", bytes.size(), " bytes pickled; the limit is ",
        kMaxPayloadBytes, " (16 MiB)"));
  }
  std::string digest = Sha256(bytes);
  v1::CodeBlob* blob = submit->add_code_blobs();
  blob->set_sha256(digest);
  blob->set_payload(static_cast<uint32_t>(payloads->size()));
  payloads->push_back(Payload::FromString(bytes));
  return digest;
}

}  // namespace

struct Pool::Impl {
  ClientOptions options;
  // Destroyed in reverse order: session, then cluster, then own context.
  std::unique_ptr<zmq::context_t> own_context;  // remote mode only
  std::unique_ptr<EmbeddedCluster> cluster;     // embedded mode only
  std::unique_ptr<internal::BrokerSession> session;

  ~Impl() {
    session.reset();
    cluster.reset();
    own_context.reset();
  }
};

Pool::Pool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Pool::~Pool() = default;

absl::StatusOr<std::unique_ptr<Pool>> Pool::Connect(ClientOptions options) {
  TQ_RETURN_IF_ERROR(ValidateClientOptions(options));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  zmq::context_t* context;
  std::vector<BrokerEndpoint> endpoints;
  if (options.broker.empty()) {
    TQ_ASSIGN_OR_RETURN(impl->cluster,
                        EmbeddedCluster::Start(options.embedded_threads,
                                               options.embedded_python));
    context = &impl->cluster->context();
    endpoints.push_back({impl->cluster->endpoint(), std::nullopt});
  } else {
    std::string warning;
    TQ_ASSIGN_OR_RETURN(
        endpoints,
        ParseBrokerEndpoints(options.broker, options.curve_key_file,
                             options.curve_server_key_file, &warning));
    if (!warning.empty()) fprintf(stderr, "tq-client: %s\n", warning.c_str());
    impl->own_context = std::make_unique<zmq::context_t>();
    context = impl->own_context.get();
  }
  TQ_ASSIGN_OR_RETURN(impl->session,
                      internal::BrokerSession::Open(
                          *context, std::move(endpoints),
                          options.connect_timeout_ms, options.name,
                          LivenessOptions(), options.resume_timeout_ms));
  return std::unique_ptr<Pool>(new Pool(std::move(impl)));
}

std::vector<std::string> Pool::tasks() const {
  const v1::Welcome welcome = impl_->session->welcome();
  return std::vector<std::string>(welcome.tasks().begin(), welcome.tasks().end());
}

std::vector<std::string> Pool::code_runtimes() const {
  const v1::Welcome welcome = impl_->session->welcome();
  return std::vector<std::string>(welcome.code_runtimes().begin(),
                                  welcome.code_runtimes().end());
}

const std::string& Pool::endpoint() const { return impl_->session->endpoint(); }

bool Pool::embedded() const { return impl_->cluster != nullptr; }

std::optional<std::string> Pool::reconnecting() const {
  return impl_->session->reconnecting();
}

int Pool::worker_threads() const {
  // The embedded worker may not have said Hello before we did, so its
  // threads are not in the Welcome yet; we know them anyway.
  if (impl_->cluster != nullptr) return impl_->cluster->worker_threads();
  return static_cast<int>(impl_->session->welcome().worker_threads());
}

absl::StatusOr<std::unique_ptr<Job>> Pool::Submit(const JobSpec& spec) {
  auto job = std::make_shared<internal::JobState>();
  v1::SubmitJob submit;
  std::vector<Payload> payloads;
  if (spec.code.has_value() == !spec.task.empty()) {
    return absl::InvalidArgumentError(
        "a job names either a task or code to run");
  }
  if (spec.code.has_value()) {
    const CodeSpec& code = *spec.code;
    job->is_code = true;
    v1::CodeSpec* wire = submit.mutable_code();
    wire->set_runtime(code.runtime);
    wire->set_runtime_version(code.runtime_version);
    wire->set_call_style(WireCallStyle(code.call_style));
    wire->set_max_chunks_per_runner(code.max_chunks_per_runner);
    TQ_ASSIGN_OR_RETURN(*wire->mutable_function_sha256(),
                        AddCodeBlob(code.function, "function", &submit, &payloads));
    if (!code.initializer.empty()) {
      TQ_ASSIGN_OR_RETURN(
          *wire->mutable_initializer_sha256(),
          AddCodeBlob(code.initializer, "initializer", &submit, &payloads));
    }
  } else {
    submit.set_task(spec.task);
    job->task = spec.task;
  }
  const int threads = worker_threads();
  if (const auto* range = std::get_if<NumberRange>(&spec.input)) {
    if (range->lo > range->hi) {
      return absl::InvalidArgumentError(absl::StrCat(
          "range start ", range->lo, " is greater than its end ", range->hi));
    }
    if (job->is_code) {
      return absl::InvalidArgumentError(
          "a code job's input is streamed: give StreamedInput");
    }
    submit.mutable_range()->set_first(range->lo);
    submit.mutable_range()->set_last(range->hi);
    job->range_lo = range->lo;
    job->range_last_index = range->hi - range->lo;
  } else if (const auto* list = std::get_if<std::vector<uint64_t>>(&spec.input)) {
    if (list->empty()) {
      return absl::InvalidArgumentError("the input list is empty");
    }
    if (job->is_code) {
      return absl::InvalidArgumentError(
          "a code job's input is streamed: give StreamedInput");
    }
    job->streamed = true;
    job->list = *list;
    job->list_chunk = ListChunkSize(spec, list->size(), threads);
    job->end_after_pending = true;
    submit.mutable_stream()->set_encoding(v1::ITEM_ENCODING_U64LE);
  } else {
    const auto& stream = std::get<StreamedInput>(spec.input);
    job->streamed = true;
    job->pending.assign(stream.first_chunks.begin(), stream.first_chunks.end());
    job->end_after_pending = stream.complete;
    submit.mutable_stream()->set_encoding(job->is_code
                                              ? v1::ITEM_ENCODING_PICKLE
                                              : v1::ITEM_ENCODING_U64LE);
  }
  submit.set_chunk_size(job->streamed ? 0 : spec.chunk_size);
  submit.set_reduction(spec.reduction == Reduction::kCount
                           ? v1::REDUCTION_COUNT
                           : v1::REDUCTION_NONE);
  for (const auto& [key, value] : spec.params) {
    (*submit.mutable_params())[key] = value;
  }
  submit.set_max_concurrency(spec.max_concurrency);
  if (spec.timeout_ms < 0) {
    return absl::InvalidArgumentError("timeout_ms must not be negative");
  }
  submit.set_timeout_ms(static_cast<uint64_t>(spec.timeout_ms));
  if (spec.chunk_timeout_ms < 0) {
    return absl::InvalidArgumentError("chunk_timeout_ms must not be negative");
  }
  submit.set_chunk_timeout_ms(static_cast<uint64_t>(spec.chunk_timeout_ms));
  submit.set_max_attempts(spec.max_attempts);
  submit.set_skip_failed(spec.skip_failed);
  // ChunkResult decodes every result encoding, the compact ones included.
  submit.set_compact_results(true);

  const uint32_t max_window =
      std::max(1u, impl_->session->welcome().max_result_window());
  uint32_t window = spec.result_window != 0 ? spec.result_window
                                            : impl_->options.result_window;
  if (window == 0) {
    window = AutomaticWindow(spec, static_cast<uint32_t>(threads), max_window);
  }
  job->window = window;
  job->manual_ack = spec.manual_ack;
  TQ_RETURN_IF_ERROR(
      impl_->session->Submit(std::move(submit), std::move(payloads), job));
  return std::make_unique<Job>(impl_->session.get(), std::move(job));
}

absl::StatusOr<std::unique_ptr<Job>> Pool::Attach(const AttachSpec& spec) {
  if (embedded()) {
    return absl::FailedPreconditionError(
        "attaching to a job needs a broker: an embedded cluster's jobs end "
        "with the client that started it");
  }
  auto job = std::make_shared<internal::JobState>();
  // 0: the window the job was submitted with (the broker knows it).
  job->window = spec.result_window != 0 ? spec.result_window
                                        : impl_->options.result_window;
  job->manual_ack = spec.manual_ack;
  TQ_RETURN_IF_ERROR(impl_->session->Adopt(spec.job_id, spec.token, job));
  return std::make_unique<Job>(impl_->session.get(), std::move(job));
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

absl::Status Pool::Status(v1::StatusReply* reply) {
  TQ_ASSIGN_OR_RETURN(*reply, impl_->session->Status());
  return absl::OkStatus();
}

absl::StatusOr<std::string> Pool::StatusJson() {
  TQ_ASSIGN_OR_RETURN(v1::StatusReply reply, impl_->session->Status());
  return tq::StatusJson(reply);
}

}  // namespace tq
