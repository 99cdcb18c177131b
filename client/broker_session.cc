#include "client/broker_session.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/handshake_monitor.h"
#include "common/protocol.h"
#include "common/status_macros.h"
#include "common/zmq_socket.h"

namespace tq {
namespace internal {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// While a send is refused (high-water mark), retry this often.
constexpr int64_t kSendRetryMs = 10;
// While waiting for the Welcome, look at handshake events this often.
constexpr int64_t kHandshakeCheckMs = 50;
// Most chunks one AppendInput carries (its envelope stays far below a frame).
constexpr int kMaxChunksPerAppend = 1024;

// A count of items for messages: 2^64 does not fit a uint64.
std::string ItemsText(absl::uint128 items) {
  return absl::Uint128High64(items) > 0 ? std::string("2^64")
                                        : absl::StrCat(absl::Uint128Low64(items));
}

size_t PayloadBytes(const std::vector<Payload>& payloads) {
  size_t bytes = 0;
  for (const Payload& p : payloads) bytes += p.size();
  return bytes;
}

// Marks `status` as the broker's verdict on the job (tq-client exits 2).
absl::Status JobFailure(absl::Status status) {
  status.SetPayload(kJobFailurePayload, absl::Cord());
  return status;
}

}  // namespace

absl::Status StatusFromBrokerError(const v1::Error& error) {
  absl::Status status = StatusFromError(error);
  if (error.retryable() && !status.ok()) {
    status = absl::Status(
        status.code(),
        absl::StrCat(status.message(),
                     " (the broker is busy: retry the same request later)"));
    status.SetPayload(kRetryablePayload, absl::Cord());
  }
  return status;
}

absl::StatusOr<std::unique_ptr<BrokerSession>> BrokerSession::Open(
    zmq::context_t& context, const std::string& endpoint,
    int64_t connect_timeout_ms, const std::string& name,
    const CurveClientKeys* curve) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  ConfigureSocket(socket);
  if (curve != nullptr) {
    if (absl::Status s = ApplyCurveClient(socket, *curve); !s.ok()) {
      socket.set(zmq::sockopt::linger, 0);
      return s;
    }
  }
  // Tells a refused or mismatched handshake apart from a silent broker.
  // inproc (the embedded cluster) has no handshake to watch.
  std::unique_ptr<HandshakeMonitor> handshakes;
  if (!absl::StartsWith(endpoint, "inproc://")) {
    absl::StatusOr<std::unique_ptr<HandshakeMonitor>> attached =
        HandshakeMonitor::Attach(context, socket, endpoint, curve != nullptr);
    if (!attached.ok()) return attached.status();
    handshakes = *std::move(attached);
  }
  try {
    socket.connect(endpoint);
  } catch (const zmq::error_t& e) {
    socket.set(zmq::sockopt::linger, 0);
    return absl::InvalidArgumentError(
        absl::StrCat("bad broker address '", endpoint, "': ", e.what()));
  }
  v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(kProtocolVersion);
  hello.mutable_hello()->set_role(v1::ROLE_CLIENT);
  hello.mutable_hello()->set_name(
      name.empty() ? absl::StrCat("tq-client:", getpid()) : name);
  if (absl::StatusOr<size_t> sent = Send(socket, hello); !sent.ok()) {
    socket.set(zmq::sockopt::linger, 0);
    return absl::UnavailableError(absl::StrCat(
        "cannot send to broker at ", endpoint, ": ", sent.status().message()));
  }
  const int64_t deadline = NowMs() + connect_timeout_ms;
  while (true) {
    int64_t remaining = deadline - NowMs();
    if (remaining <= 0) break;
    std::vector<zmq::pollitem_t> items = {
        {static_cast<void*>(socket), 0, ZMQ_POLLIN, 0}};
    // Short polls: handshake events arrive on the monitor, not the socket.
    PollIgnoringEintr(items, std::chrono::milliseconds(
                                 std::min<int64_t>(remaining, kHandshakeCheckMs)));
    if (handshakes != nullptr && handshakes->Poll()) {
      socket.set(zmq::sockopt::linger, 0);
      return absl::UnavailableError(handshakes->failure());
    }
    while (std::optional<Received> received = TryReceive(socket, false)) {
      if (!received->envelope.ok()) continue;  // garbage: keep waiting
      const v1::Envelope& envelope = *received->envelope;
      if (envelope.has_welcome()) {
        return std::unique_ptr<BrokerSession>(
            new BrokerSession(std::move(socket), endpoint, envelope.welcome()));
      }
      if (envelope.has_error()) {
        socket.set(zmq::sockopt::linger, 0);
        absl::Status status = StatusFromBrokerError(envelope.error());
        absl::Status refused(status.code(),
                             absl::StrCat("broker at ", endpoint,
                                          " refused us: ", status.message()));
        if (IsRetryable(status)) refused.SetPayload(kRetryablePayload, absl::Cord());
        return refused;
      }
    }
  }
  socket.set(zmq::sockopt::linger, 0);
  std::string diagnosis;
  if (handshakes != nullptr) {
    handshakes->Poll();
    diagnosis = handshakes->Diagnosis();
  }
  if (diagnosis.empty()) {
    diagnosis = curve != nullptr
                    ? "is tq-broker running there, and does it accept our "
                      "CURVE key?"
                    : "is tq-broker running there? It may require CURVE keys "
                      "(--curve-key, --curve-server-key)";
  }
  return absl::UnavailableError(absl::StrCat(
      "no answer from broker at ", endpoint, " within ",
      absl::FormatDuration(absl::Milliseconds(connect_timeout_ms)), " (",
      diagnosis, ")"));
}

BrokerSession::BrokerSession(zmq::socket_t socket, std::string endpoint,
                             v1::Welcome welcome)
    : endpoint_(std::move(endpoint)),
      welcome_(std::move(welcome)),
      heartbeat_interval_ms_(welcome_.heartbeat_interval_ms() > 0
                                 ? welcome_.heartbeat_interval_ms()
                                 : kDefaultHeartbeatIntervalMs),
      heartbeat_timeout_ms_(welcome_.heartbeat_timeout_ms() > 0
                                ? welcome_.heartbeat_timeout_ms()
                                : kDefaultHeartbeatTimeoutMs),
      socket_(std::move(socket)) {
  io_thread_ = std::thread([this] { IoLoop(); });
}

BrokerSession::~BrokerSession() {
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
  }
  wakeup_.Notify();
  io_thread_.join();
}

void BrokerSession::IoLoop() {
  int64_t last_sent = NowMs();
  int64_t last_heard = last_sent;
  std::deque<Outgoing> unsent;  // refused by the high-water mark
  while (true) {
    int64_t now = NowMs();
    int64_t timeout = std::min(last_sent + heartbeat_interval_ms_,
                               last_heard + heartbeat_timeout_ms_) - now;
    if (!unsent.empty()) timeout = std::min(timeout, kSendRetryMs);
    std::vector<zmq::pollitem_t> items = {
        {static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0},
        {nullptr, wakeup_.fd(), ZMQ_POLLIN, 0}};
    PollIgnoringEintr(items, std::chrono::milliseconds(std::max<int64_t>(timeout, 0)));
    if (items[1].revents & ZMQ_POLLIN) wakeup_.Drain();
    now = NowMs();

    bool stopping;
    {
      std::unique_lock lock(mu_);
      while (std::optional<Received> received = TryReceive(socket_, false)) {
        last_heard = now;
        // A malformed message is dropped; the broker is still alive.
        if (received->envelope.ok()) {
          HandleMessage(*received->envelope, received->payloads);
        }
      }
      for (Outgoing& message : outbox_) unsent.push_back(std::move(message));
      outbox_.clear();
      stopping = stopping_;
    }

    bool sent_any = false;
    while (!unsent.empty() &&
           Send(socket_, unsent.front().envelope, unsent.front().payloads).ok()) {
      unsent.pop_front();
      sent_any = true;
    }
    if (sent_any) last_sent = now;

    if (stopping) {
      v1::Envelope goodbye;
      goodbye.mutable_goodbye();
      (void)Send(socket_, goodbye);
      return;
    }
    if (now - last_sent >= heartbeat_interval_ms_) {
      v1::Envelope heartbeat;
      heartbeat.mutable_heartbeat();
      if (Send(socket_, heartbeat).ok()) last_sent = now;
    }
    if (now - last_heard > heartbeat_timeout_ms_) {
      std::unique_lock lock(mu_);
      FailEverything(absl::UnavailableError(absl::StrCat(
          "lost contact with broker at ", endpoint_, ": silent for ",
          absl::FormatDuration(absl::Milliseconds(now - last_heard)))));
      socket_.set(zmq::sockopt::linger, 0);
      return;
    }
  }
}

void BrokerSession::HandleMessage(const v1::Envelope& envelope,
                                  const std::vector<Payload>& payloads) {
  switch (envelope.body_case()) {
    case v1::Envelope::kJobAccepted: {
      const v1::JobAccepted& accepted = envelope.job_accepted();
      auto it = by_request_.find(accepted.request_id());
      if (it == by_request_.end()) return;
      std::shared_ptr<JobState> job = it->second;
      by_request_.erase(it);
      job->answered = true;
      job->job_id = accepted.job_id();
      job->window = accepted.result_window();
      bool fits = job->window >= 1;
      if (!job->streamed) {
        // A fixed size names the chunks it makes; automatic sizing: 0, 0.
        job->chunk_size = accepted.chunk_size();
        job->chunk_count = accepted.chunk_count();
        fits = fits && (job->chunk_size == 0
                            ? job->chunk_count == 0
                            : job->chunk_count ==
                                  job->range_last_index / job->chunk_size + 1);
      }
      if (!fits) {
        job->submit_status = absl::InternalError(absl::StrCat(
            "broker accepted the job with chunk_size ", accepted.chunk_size(),
            ", chunk_count ", accepted.chunk_count(), " and window ",
            accepted.result_window(), ", which do not fit its input"));
        v1::Envelope cancel;
        cancel.mutable_cancel_job()->set_job_id(job->job_id);
        Enqueue(std::move(cancel));
      } else {
        by_job_[job->job_id] = job;
      }
      break;
    }
    case v1::Envelope::kError: {
      const v1::Error& error = envelope.error();
      if (auto st = status_requests_.find(error.request_id());
          error.request_id() != 0 && st != status_requests_.end()) {
        st->second = StatusFromBrokerError(error);
      } else if (auto it = by_request_.find(error.request_id());
          error.request_id() != 0 && it != by_request_.end()) {
        it->second->answered = true;
        it->second->submit_status = StatusFromBrokerError(error);
        by_request_.erase(it);
      } else if (auto jt = by_job_.find(error.job_id());
                 error.job_id() != 0 && jt != by_job_.end()) {
        FailJob(*jt->second, StatusFromBrokerError(error));
      } else if (error.job_id() == 0 && error.request_id() == 0) {
        // About the session itself (e.g. the broker forgot us): fatal.
        absl::Status status = StatusFromBrokerError(error);
        FailEverything(absl::Status(
            status.code(),
            absl::StrCat("broker at ", endpoint_, ": ", status.message())));
      }
      break;
    }
    case v1::Envelope::kJobResults:
      HandleResults(envelope.job_results(), payloads);
      break;
    case v1::Envelope::kJobFinished: {
      const v1::JobFinished& finished = envelope.job_finished();
      auto it = by_job_.find(finished.job_id());
      if (it == by_job_.end()) return;
      JobState& job = *it->second;
      if (finished.code() == 0) {
        job.finished = true;
      } else if (finished.user_code_error()) {
        UserCodeError error;
        error.chunk_index = finished.chunk_index();
        if (auto first = job.index_first.find(finished.chunk_index());
            first != job.index_first.end()) {
          error.first_item = first->second;
        }
        if (finished.has_details_payload() &&
            finished.details_payload() < payloads.size()) {
          error.details = payloads[finished.details_payload()].ToString();
        }
        job.user_error = std::move(error);
        FailJob(job, JobFailure(absl::AbortedError(finished.message())));
      } else {
        std::string message = finished.message();
        if (finished.has_failed_item()) {
          message = FailedItemMessage(job, finished.failed_item(), message);
        }
        FailJob(job, JobFailure(StatusFromCode(finished.code(), message)));
      }
      by_job_.erase(it);
      break;
    }
    case v1::Envelope::kStatusReply: {
      auto it = status_requests_.find(envelope.status_reply().request_id());
      if (it != status_requests_.end()) it->second = envelope.status_reply();
      break;
    }
    case v1::Envelope::kGoodbye:
      FailEverything(absl::UnavailableError(
          absl::StrCat("broker at ", endpoint_, " is shutting down")));
      break;
    default:
      break;  // heartbeats only prove liveness; anything else is ignored
  }
  changed_.notify_all();
}

std::string BrokerSession::FailedItemMessage(const JobState& job,
                                             uint64_t item,
                                             const std::string& message) {
  // The item's number, when the client knows it: n = lo + item for a range,
  // the number sent for a list (code jobs' items have none to show).
  std::string n;
  if (!job.streamed) {
    if (item <= job.range_last_index) n = absl::StrCat(job.range_lo + item);
  } else if (!job.is_code) {
    auto found = job.metas.upper_bound(item);
    if (found != job.metas.begin()) {
      --found;
      const ChunkMeta& meta = found->second.meta;
      if (meta.numbers != nullptr && item - found->first < meta.size) {
        n = absl::StrCat((*meta.numbers)[meta.offset + (item - found->first)]);
      }
    }
  }
  const std::string named = absl::StrCat("item ", item);
  const std::string with_n =
      n.empty() ? named : absl::StrCat(named, " (n=", n, ")");
  // The broker's text usually starts "item 777 of job 7 failed 4 times";
  // add the number there, else put the item in front.
  if (absl::StartsWith(message, named + " ")) {
    return absl::StrCat(with_n, message.substr(named.size()));
  }
  return absl::StrCat(with_n, " failed: ", message);
}

void BrokerSession::HandleResults(const v1::JobResults& results,
                                  const std::vector<Payload>& payloads) {
  for (const v1::ChunkResult& result : results.results()) {
    auto it = by_job_.find(result.job_id());
    if (it == by_job_.end()) continue;  // cancelled or released job
    JobState& job = *it->second;
    ++job.received;
    if (job.finished) continue;
    if (absl::Status s = HandleResult(job, result, payloads); !s.ok()) {
      FailJob(job, std::move(s));
      v1::Envelope cancel;
      cancel.mutable_cancel_job()->set_job_id(job.job_id);
      Enqueue(std::move(cancel));
    }
  }
}

absl::Status BrokerSession::HandleResult(JobState& job,
                                         const v1::ChunkResult& result,
                                         const std::vector<Payload>& payloads) {
  const uint64_t index = result.chunk_index();
  // Which items: the result names them (protocol 3); never derived from the
  // chunk index, since chunk sizes vary and split chunks come in parts.
  const uint64_t first = result.first_item();
  const uint64_t count = result.item_count();
  if (count == 0) {
    return absl::InternalError(absl::StrCat(
        "broker sent a result for chunk ", index, " that names no items"));
  }
  const absl::uint128 total = job.streamed
                                  ? job.items_appended
                                  : absl::uint128(job.range_last_index) + 1;
  if (absl::uint128(first) + count > total) {
    return absl::InternalError(absl::StrCat(
        "broker sent a result for items ", first, "..+", count,
        " of chunk ", index, ", beyond the job's ", ItemsText(total), " items"));
  }
  // A result for items already received: a duplicate, counted and dropped.
  if (!job.coverage.Add(first, count)) {
    ++job.stats.duplicates;
    return absl::OkStatus();
  }
  ChunkMeta meta;
  meta.chunk_index = index;
  meta.first_item = first;
  meta.size = count;
  if (job.streamed) {
    // The appended chunk holding these items (a whole chunk or a part).
    auto found = job.metas.upper_bound(first);
    if (found == job.metas.begin()) {
      return absl::InternalError(absl::StrCat(
          "broker sent a result for items ", first, "..+", count,
          ", which are not pending"));
    }
    --found;
    PendingChunk& pending = found->second;
    const uint64_t within = first - found->first;
    if (absl::uint128(within) + count > pending.meta.size ||
        pending.meta.chunk_index != index) {
      return absl::InternalError(absl::StrCat(
          "broker sent a result for items ", first, "..+", count,
          " as chunk ", index, ", which does not hold them"));
    }
    meta.numbers = pending.meta.numbers;
    meta.offset = pending.meta.offset + within;
    meta.lo = first;  // code jobs: n(i) is the item's index
    pending.items_left -= count;
    if (pending.items_left == 0) {
      job.index_first.erase(pending.meta.chunk_index);
      job.metas.erase(found);
    }
  } else {
    meta.lo = job.is_code ? first : job.range_lo + first;
  }
  ++job.stats.chunks;
  if (result.has_error()) {
    job.stats.failed_items += count;
    std::string why = result.error().message();
    if (why.empty()) why = "failed on every attempt";
    job.buffer.Insert(ChunkDecoder::Failed(std::move(meta), std::move(why)));
    return absl::OkStatus();
  }
  if (result.payload() >= payloads.size()) {
    return absl::InternalError(absl::StrCat(
        "broker sent chunk ", index, " without its result payload"));
  }
  absl::StatusOr<ChunkResult> decoded =
      job.is_code
          ? ChunkDecoder::Bytes(std::move(meta), payloads[result.payload()],
                                result.run_micros())
          : ChunkDecoder::DecodeTask(std::move(meta), payloads[result.payload()],
                                     result.run_micros());
  if (!decoded.ok()) return decoded.status();
  job.buffer.Insert(*std::move(decoded));
  return absl::OkStatus();
}

void BrokerSession::FailJob(JobState& job, absl::Status status) {
  if (job.finished) return;
  job.finished = true;
  job.final_status = std::move(status);
}

void BrokerSession::FailEverything(absl::Status status) {
  lost_ = status;
  for (auto& [id, job] : by_request_) {
    job->answered = true;
    job->submit_status = status;
  }
  for (auto& [id, job] : by_job_) FailJob(*job, status);
  by_request_.clear();
  by_job_.clear();
  changed_.notify_all();
}

void BrokerSession::Enqueue(v1::Envelope envelope,
                            std::vector<Payload> payloads) {
  const size_t bytes = PayloadBytes(payloads);
  outbox_.push_back(Outgoing{std::move(envelope), std::move(payloads), bytes});
  wakeup_.Notify();
}

void BrokerSession::GrantCredit(JobState& job, uint64_t chunks) {
  if (chunks == 0 || job.finished || job.job_id == 0) return;
  v1::Envelope credit;
  credit.mutable_client_credit()->set_job_id(job.job_id);
  credit.mutable_client_credit()->set_chunks(static_cast<uint32_t>(chunks));
  job.granted += chunks;
  Enqueue(std::move(credit));
}

size_t BrokerSession::Room(const JobState& job) const {
  if (!job.streamed || job.finished) return 0;
  // Chunks appended and not wholly received (parts of a split chunk count
  // once, as the broker holds them).
  const uint64_t outstanding = job.metas.size();
  return outstanding >= job.window ? 0 : job.window - outstanding;
}

absl::Status BrokerSession::EncodeChunk(JobState& job, InputChunk chunk,
                                        v1::ChunkInput* input,
                                        std::vector<Payload>* payloads) {
  ChunkMeta meta;
  meta.chunk_index = job.appended;
  meta.first_item =
      job.items_appended > std::numeric_limits<uint64_t>::max()
          ? std::numeric_limits<uint64_t>::max()
          : static_cast<uint64_t>(job.items_appended);
  if (auto* range = std::get_if<NumberRange>(&chunk)) {
    if (!job.is_code) {
      return absl::InvalidArgumentError(
          "a task's streamed chunks are lists of numbers, not ranges");
    }
    if (range->lo > range->hi || range->hi - range->lo == UINT64_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(
          "chunk range ", range->lo, "..", range->hi,
          " must hold 1 to 2^64-1 items"));
    }
    input->mutable_range()->set_first(range->lo);
    input->mutable_range()->set_last(range->hi);
    meta.size = range->hi - range->lo + 1;
  } else if (auto* numbers = std::get_if<std::vector<uint64_t>>(&chunk)) {
    if (job.is_code) {
      return absl::InvalidArgumentError(
          "a code job's chunks are ranges or encoded items, not numbers");
    }
    if (numbers->empty() || numbers->size() * 8 > kMaxPayloadBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a chunk holds 1 to ", kMaxPayloadBytes / 8, " numbers, not ",
          numbers->size()));
    }
    meta.size = numbers->size();
    std::string bytes(numbers->size() * 8, '\0');
    std::memcpy(bytes.data(), numbers->data(), bytes.size());
    input->set_payload(static_cast<uint32_t>(payloads->size()));
    input->set_item_count(meta.size);
    payloads->push_back(Payload::FromString(std::move(bytes)));
    meta.numbers =
        std::make_shared<const std::vector<uint64_t>>(std::move(*numbers));
  } else {
    auto& encoded = std::get<EncodedItems>(chunk);
    if (!job.is_code) {
      return absl::InvalidArgumentError(
          "a task's streamed chunks are lists of numbers");
    }
    if (encoded.count == 0 || encoded.bytes.empty() ||
        encoded.bytes.size() > kMaxPayloadBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "an encoded chunk holds at least one item in at most ",
          kMaxPayloadBytes, " bytes; this one has ", encoded.count,
          " items in ", encoded.bytes.size(), " bytes"));
    }
    meta.size = encoded.count;
    input->set_payload(static_cast<uint32_t>(payloads->size()));
    input->set_item_count(meta.size);
    payloads->push_back(Payload::FromString(std::move(encoded.bytes)));
  }
  job.items_appended += meta.size;
  job.index_first.emplace(meta.chunk_index, meta.first_item);
  const uint64_t first = meta.first_item;
  const uint64_t size = meta.size;
  job.metas.emplace(first, PendingChunk{std::move(meta), size});
  ++job.appended;
  return absl::OkStatus();
}

absl::Status BrokerSession::AppendLocked(JobState& job, InputChunk chunk) {
  if (!job.streamed || job.input_complete) {
    return absl::FailedPreconditionError(
        "this job's input is complete; it takes no more chunks");
  }
  if (job.finished) {
    return job.final_status.ok()
               ? absl::FailedPreconditionError("the job has ended")
               : job.final_status;
  }
  if (Room(job) == 0) {
    return absl::FailedPreconditionError(
        "no room for another chunk: wait for results (Job::Poll) first");
  }
  v1::ChunkInput input;
  std::vector<Payload> payloads;
  TQ_RETURN_IF_ERROR(EncodeChunk(job, std::move(chunk), &input, &payloads));
  // Merge into a queued AppendInput of this job: a burst of appends goes out
  // as one message.
  if (!outbox_.empty()) {
    Outgoing& last = outbox_.back();
    if (last.envelope.has_append_input() &&
        last.envelope.append_input().job_id() == job.job_id &&
        !last.envelope.append_input().complete() &&
        last.envelope.append_input().chunks_size() < kMaxChunksPerAppend &&
        last.payload_bytes + PayloadBytes(payloads) <= kMaxPayloadBytes) {
      if (input.input_case() == v1::ChunkInput::kPayload) {
        input.set_payload(static_cast<uint32_t>(last.payloads.size()));
      }
      *last.envelope.mutable_append_input()->add_chunks() = std::move(input);
      last.payload_bytes += PayloadBytes(payloads);
      for (Payload& p : payloads) last.payloads.push_back(std::move(p));
      return absl::OkStatus();
    }
  }
  v1::Envelope envelope;
  envelope.mutable_append_input()->set_job_id(job.job_id);
  *envelope.mutable_append_input()->add_chunks() = std::move(input);
  Enqueue(std::move(envelope), std::move(payloads));
  return absl::OkStatus();
}

std::optional<InputChunk> BrokerSession::TakePending(JobState& job) {
  if (!job.pending.empty()) {
    InputChunk chunk = std::move(job.pending.front());
    job.pending.pop_front();
    return chunk;
  }
  if (job.list_pos < job.list.size()) {
    const size_t end = std::min<size_t>(job.list.size(), job.list_pos + job.list_chunk);
    std::vector<uint64_t> numbers(job.list.begin() + job.list_pos,
                                  job.list.begin() + end);
    job.list_pos = end;
    if (job.list_pos == job.list.size()) std::vector<uint64_t>().swap(job.list);
    return numbers;
  }
  return std::nullopt;
}

void BrokerSession::FeedPending(JobState& job) {
  while (Room(job) > 0 && !job.input_complete) {
    std::optional<InputChunk> chunk = TakePending(job);
    if (!chunk.has_value()) break;
    if (absl::Status s = AppendLocked(job, *std::move(chunk)); !s.ok()) {
      FailJob(job, s);
      return;
    }
  }
  if (job.end_after_pending && !job.input_complete && job.pending.empty() &&
      job.list_pos >= job.list.size()) {
    SendEndInput(job);
  }
}

void BrokerSession::SendEndInput(JobState& job) {
  job.input_complete = true;
  job.end_after_pending = false;
  if (!outbox_.empty()) {
    Outgoing& last = outbox_.back();
    if (last.envelope.has_append_input() &&
        last.envelope.append_input().job_id() == job.job_id) {
      last.envelope.mutable_append_input()->set_complete(true);
      return;
    }
  }
  v1::Envelope envelope;
  envelope.mutable_append_input()->set_job_id(job.job_id);
  envelope.mutable_append_input()->set_complete(true);
  Enqueue(std::move(envelope));
}

absl::Status BrokerSession::Submit(v1::SubmitJob submit,
                                   std::vector<Payload> payloads,
                                   const std::shared_ptr<JobState>& job) {
  std::unique_lock lock(mu_);
  if (!lost_.ok()) return lost_;
  job->request_id = next_request_id_++;
  // What the broker will grant (JobAccepted says it for sure).
  job->window = std::min(job->window, std::max(1u, welcome_.max_result_window()));
  job->granted = job->window;
  submit.set_request_id(job->request_id);
  submit.set_result_window(job->window);
  if (job->streamed) {
    // The first chunks travel with the submit, up to the window.
    v1::InputStream* stream = submit.mutable_stream();
    while (job->appended < job->window) {
      std::optional<InputChunk> chunk = TakePending(*job);
      if (!chunk.has_value()) break;
      TQ_RETURN_IF_ERROR(EncodeChunk(*job, *std::move(chunk),
                                     stream->add_chunks(), &payloads));
    }
    if (job->end_after_pending && job->pending.empty() &&
        job->list_pos >= job->list.size()) {
      stream->set_complete(true);
      job->input_complete = true;
      job->end_after_pending = false;
    } else {
      job->input_complete = false;
    }
  }
  by_request_[job->request_id] = job;
  v1::Envelope envelope;
  *envelope.mutable_submit_job() = std::move(submit);
  Enqueue(std::move(envelope), std::move(payloads));
  while (!job->answered) changed_.wait(lock);
  if (!job->submit_status.ok()) return job->submit_status;
  FeedPending(*job);
  return absl::OkStatus();
}

absl::StatusOr<JobEvent> BrokerSession::Poll(JobState& job, bool ordered,
                                             bool want_room,
                                             absl::Duration timeout) {
  std::unique_lock lock(mu_);
  const uint64_t batch = std::max<uint64_t>(1, job.window / 2);
  const auto deadline =
      timeout == absl::InfiniteDuration()
          ? std::chrono::steady_clock::time_point::max()
          : std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  while (true) {
    if (job.cancelled) return absl::CancelledError("job cancelled");
    std::optional<ChunkResult> result =
        ordered ? job.buffer.PopNextInOrder() : job.buffer.PopOldest();
    if (result.has_value()) {
      ++job.delivered;
      if (++job.ungranted >= batch) {
        GrantCredit(job, job.ungranted);
        job.ungranted = 0;
      }
      FeedPending(job);
      return JobEvent{JobEvent::Kind::kResult, std::move(result)};
    }
    if (job.finished) {
      if (!job.final_status.ok()) return job.final_status;
      // Complete only if the results cover every item: never pass partial
      // output off as the whole.
      const absl::uint128 total = job.streamed
                                      ? job.items_appended
                                      : absl::uint128(job.range_last_index) + 1;
      if (job.coverage.covered() != total ||
          (job.streamed && !job.input_complete)) {
        return absl::DataLossError(absl::StrCat(
            "broker finished job ", job.job_id, " but its results cover ",
            ItemsText(job.coverage.covered()), " of ",
            ItemsText(total), " items (the first missing is item ",
            ItemsText(job.coverage.FirstGap()), "); output is incomplete"));
      }
      return JobEvent{JobEvent::Kind::kDone, std::nullopt};
    }
    FeedPending(job);
    if (want_room && !job.input_complete && !job.end_after_pending &&
        Room(job) > 0) {
      return JobEvent{JobEvent::Kind::kInputRoom, std::nullopt};
    }
    // About to wait: return all consumed credit first, so the broker is never
    // left holding a finished chunk we are waiting for without credit.
    if (job.ungranted > 0) {
      GrantCredit(job, job.ungranted);
      job.ungranted = 0;
    }
    // Ordered only: every credit is spent on chunks beyond the one we need
    // (they sit in the reorder buffer). One extra credit lets it through;
    // without it both sides would wait forever.
    if (ordered && job.granted == job.received) GrantCredit(job, 1);
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      return JobEvent{JobEvent::Kind::kTimedOut, std::nullopt};
    }
  }
}

size_t BrokerSession::InputRoom(JobState& job) {
  std::unique_lock lock(mu_);
  if (job.input_complete || job.end_after_pending) return 0;
  FeedPending(job);
  return job.pending.empty() && job.list_pos >= job.list.size() ? Room(job) : 0;
}

absl::Status BrokerSession::Append(JobState& job, InputChunk chunk) {
  std::unique_lock lock(mu_);
  if (!lost_.ok()) return lost_;
  if (job.end_after_pending) {
    return absl::FailedPreconditionError("the job's input was ended");
  }
  FeedPending(job);
  if (!job.pending.empty() || job.list_pos < job.list.size()) {
    return absl::FailedPreconditionError(
        "no room for another chunk: wait for results (Job::Poll) first");
  }
  return AppendLocked(job, std::move(chunk));
}

absl::Status BrokerSession::EndInput(JobState& job) {
  std::unique_lock lock(mu_);
  if (!job.streamed || job.input_complete || job.end_after_pending) {
    return absl::OkStatus();
  }
  job.end_after_pending = true;
  FeedPending(job);
  return absl::OkStatus();
}

std::optional<UserCodeError> BrokerSession::user_code_error(JobState& job) {
  std::unique_lock lock(mu_);
  return job.user_error;
}

absl::uint128 BrokerSession::ItemsAppended(JobState& job) {
  std::unique_lock lock(mu_);
  return job.items_appended;
}

JobStats BrokerSession::Stats(JobState& job) {
  std::unique_lock lock(mu_);
  JobStats stats = job.stats;
  const absl::uint128 covered = job.coverage.covered();
  stats.items = absl::Uint128High64(covered) > 0 ? UINT64_MAX
                                                 : absl::Uint128Low64(covered);
  return stats;
}

absl::StatusOr<v1::StatusReply> BrokerSession::Status() {
  std::unique_lock lock(mu_);
  if (!lost_.ok()) return lost_;
  const uint64_t request_id = next_request_id_++;
  status_requests_[request_id] = std::nullopt;
  v1::Envelope envelope;
  envelope.mutable_status_request()->set_request_id(request_id);
  Enqueue(std::move(envelope));
  auto it = status_requests_.find(request_id);
  while (!it->second.has_value() && lost_.ok()) changed_.wait(lock);
  absl::StatusOr<v1::StatusReply> reply =
      it->second.has_value() ? *std::move(it->second)
                             : absl::StatusOr<v1::StatusReply>(lost_);
  status_requests_.erase(it);
  return reply;
}

void BrokerSession::Cancel(JobState& job) {
  std::unique_lock lock(mu_);
  job.cancelled = true;
  if (!job.finished && job.job_id != 0) {
    v1::Envelope cancel;
    cancel.mutable_cancel_job()->set_job_id(job.job_id);
    Enqueue(std::move(cancel));
  }
  changed_.notify_all();
}

void BrokerSession::Release(JobState& job) {
  std::unique_lock lock(mu_);
  if (!job.finished && job.job_id != 0 && by_job_.erase(job.job_id) > 0) {
    v1::Envelope cancel;
    cancel.mutable_cancel_job()->set_job_id(job.job_id);
    Enqueue(std::move(cancel));
  }
  by_request_.erase(job.request_id);
}

}  // namespace internal
}  // namespace tq
