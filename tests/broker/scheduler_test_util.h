// A harness for driving the Scheduler with fake time: peers are plain
// strings, time is an int64 of microseconds the test advances, and each step
// returns the envelopes the Scheduler queued.
#ifndef TQ_TESTS_BROKER_SCHEDULER_TEST_UTIL_H_
#define TQ_TESTS_BROKER_SCHEDULER_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <utility>
#include <string>
#include <vector>

#include "broker/outbox.h"
#include "broker/scheduler.h"
#include "common/payload.h"
#include "common/sha256.h"
#include "common/protocol.h"
#include "tasks/task.h"
#include "gtest/gtest.h"
#include "tq/v1/tq.pb.h"

namespace tq::testing {

inline SchedulerOptions TestOptions() {
  SchedulerOptions options;
  options.heartbeat_interval_ms = 1000;
  options.heartbeat_timeout_ms = 5000;
  options.lease_ms = 10'000;
  options.max_attempts = 3;
  options.max_result_window = 256;
  return options;
}

using Sent = std::vector<OutgoingMessage>;

class SchedulerHarness {
 public:
  explicit SchedulerHarness(SchedulerOptions options = TestOptions())
      : scheduler_(options) {}

  Scheduler& scheduler() { return scheduler_; }
  int64_t now() const { return now_us_; }
  void AdvanceMs(int64_t ms) { now_us_ += ms * 1000; }

  Sent Deliver(const std::string& peer, v1::Envelope envelope,
               std::vector<Payload> payloads = {},
               const std::string& user_id = "") {
    scheduler_.OnMessage(
        InboundMessage{peer, std::move(envelope), std::move(payloads), user_id},
        now_us_, &out_);
    return out_.Take();
  }
  // Sending to `peer` failed: the broker loop's word that it is gone (a
  // worker process that died closes its connection).
  Sent Unreachable(const std::string& peer) {
    scheduler_.OnPeerUnreachable(peer, now_us_, &out_);
    return out_.Take();
  }
  Sent Tick(bool backlog = false) {
    scheduler_.OnTick(now_us_, &out_, backlog);
    return out_.Take();
  }

  // A worker running every built-in task, and the given runtimes.
  Sent HelloWorker(const std::string& id, uint32_t threads, uint32_t credit,
                   std::vector<v1::Runtime> runtimes = {}) {
    v1::Envelope env;
    v1::Hello* hello = env.mutable_hello();
    hello->set_protocol_version(kProtocolVersion);
    hello->set_role(v1::ROLE_WORKER);
    hello->set_name(id);
    hello->set_threads(threads);
    hello->set_credit(credit);
    for (const std::string& task : BuiltinTasks().Names()) hello->add_tasks(task);
    for (v1::Runtime& runtime : runtimes) *hello->add_runtimes() = runtime;
    return Deliver(id, env);
  }
  Sent HelloClient(const std::string& id, const std::string& user_id = "") {
    v1::Envelope env;
    v1::Hello* hello = env.mutable_hello();
    hello->set_protocol_version(kProtocolVersion);
    hello->set_role(v1::ROLE_CLIENT);
    hello->set_name(id);
    return Deliver(id, env, {}, user_id);
  }
  static v1::Envelope RangeJob(uint64_t first, uint64_t last,
                               uint64_t chunk_size, uint32_t window = 100,
                               const std::string& task = "noop") {
    v1::Envelope env;
    v1::SubmitJob* s = env.mutable_submit_job();
    s->set_request_id(7);
    s->set_task(task);
    s->mutable_range()->set_first(first);
    s->mutable_range()->set_last(last);
    s->set_chunk_size(chunk_size);
    s->set_result_window(window);
    return env;
  }
  // 8-byte little-endian numbers, as a streamed chunk's payload.
  static Payload Numbers(const std::vector<uint64_t>& numbers) {
    std::string bytes(numbers.size() * 8, '\0');
    memcpy(bytes.data(), numbers.data(), bytes.size());
    return Payload::FromString(std::move(bytes));
  }
  // A task job over streamed chunks of numbers.
  static std::pair<v1::Envelope, std::vector<Payload>> NumbersJob(
      const std::vector<std::vector<uint64_t>>& chunks, bool complete = true,
      uint32_t window = 100, const std::string& task = "noop") {
    v1::Envelope env;
    v1::SubmitJob* s = env.mutable_submit_job();
    s->set_request_id(7);
    s->set_task(task);
    s->set_result_window(window);
    v1::InputStream* stream = s->mutable_stream();
    stream->set_encoding(v1::ITEM_ENCODING_U64LE);
    stream->set_complete(complete);
    std::vector<Payload> payloads;
    for (const auto& numbers : chunks) {
      v1::ChunkInput* chunk = stream->add_chunks();
      chunk->set_payload(static_cast<uint32_t>(payloads.size()));
      chunk->set_item_count(numbers.size());
      payloads.push_back(Numbers(numbers));
    }
    return {std::move(env), std::move(payloads)};
  }
  static v1::Runtime Python(const std::string& version = "3.11") {
    v1::Runtime runtime;
    runtime.set_name("python");
    runtime.set_version(version);
    return runtime;
  }
  // A python code job running `function` (opaque bytes here) over chunks
  // of opaque encoded items (each `items` long).
  static std::pair<v1::Envelope, std::vector<Payload>> CodeJob(
      const std::string& function, const std::vector<std::string>& chunks,
      bool complete = true, uint32_t window = 100,
      const std::string& version = "3.11", uint64_t items = 2) {
    v1::Envelope env;
    v1::SubmitJob* s = env.mutable_submit_job();
    s->set_request_id(7);
    s->set_result_window(window);
    v1::CodeSpec* code = s->mutable_code();
    code->set_runtime("python");
    code->set_runtime_version(version);
    code->set_function_sha256(Sha256(function));
    std::vector<Payload> payloads = {Payload::FromString(function)};
    v1::CodeBlob* blob = s->add_code_blobs();
    blob->set_sha256(code->function_sha256());
    blob->set_payload(0);
    v1::InputStream* stream = s->mutable_stream();
    stream->set_encoding(v1::ITEM_ENCODING_PICKLE);
    stream->set_complete(complete);
    for (const std::string& bytes : chunks) {
      v1::ChunkInput* chunk = stream->add_chunks();
      chunk->set_payload(static_cast<uint32_t>(payloads.size()));
      chunk->set_item_count(items);
      payloads.push_back(Payload::FromString(bytes));
    }
    return {std::move(env), std::move(payloads)};
  }
  // Submits and returns the job id (0 and a test failure if refused).
  uint64_t Submit(const std::string& client, v1::Envelope submit,
                  Sent* sent = nullptr, std::vector<Payload> payloads = {}) {
    Sent out = Deliver(client, std::move(submit), std::move(payloads));
    if (sent != nullptr) *sent = out;
    for (const auto& m : out) {
      if (m.peer == client && m.envelope.has_job_accepted()) {
        return m.envelope.job_accepted().job_id();
      }
    }
    ADD_FAILURE() << "job not accepted";
    return 0;
  }
  // Reports success; the result payload holds a ChunkOutput whose one value
  // is the chunk's index (ResultValue reads it back).
  Sent Report(const std::string& worker, const v1::Assignment& a,
              uint32_t credit = 1, uint64_t run_micros = 0,
              uint64_t session = 0, uint64_t epoch = 0) {
    v1::Envelope env;
    v1::ChunkReports* reports = env.mutable_chunk_reports();
    reports->set_session(session);
    reports->set_broker_epoch(epoch);
    v1::ChunkReport* r = reports->add_reports();
    r->set_job_id(a.job_id());
    r->set_chunk_index(a.chunk_index());
    r->set_attempt(a.attempt());
    r->set_result_payload(0);
    r->set_run_micros(run_micros);
    reports->set_credit(credit);
    v1::ChunkOutput output;
    output.mutable_values()->add_values(a.chunk_index());
    return Deliver(worker, env, {Payload::FromString(output.SerializeAsString())});
  }
  Sent ReportError(const std::string& worker, const v1::Assignment& a,
                   const std::string& message, uint32_t credit = 1) {
    v1::Envelope env;
    v1::ChunkReports* reports = env.mutable_chunk_reports();
    v1::ChunkReport* r = reports->add_reports();
    r->set_job_id(a.job_id());
    r->set_chunk_index(a.chunk_index());
    r->set_attempt(a.attempt());
    r->mutable_error()->set_code(3);
    r->mutable_error()->set_message(message);
    reports->set_credit(credit);
    return Deliver(worker, env);
  }
  Sent Heartbeat(const std::string& peer) {
    v1::Envelope env;
    env.mutable_heartbeat();
    return Deliver(peer, env);
  }
  // A worker's heartbeat saying it runs `running` (started `started_ms`
  // ago) and holds `queued` in its queue.
  Sent HeartbeatHeld(const std::string& worker,
                     const std::vector<v1::Assignment>& running,
                     const std::vector<v1::Assignment>& queued = {},
                     uint64_t started_ms = 0, uint64_t session = 0) {
    v1::Envelope env;
    v1::WorkerHeld* held = env.mutable_heartbeat()->mutable_held();
    held->set_session(session);
    for (const auto* list : {&running, &queued}) {
      for (const v1::Assignment& a : *list) {
        v1::ChunkRef* ref =
            list == &running ? held->add_running() : held->add_queued();
        ref->set_job_id(a.job_id());
        ref->set_chunk_index(a.chunk_index());
        ref->set_attempt(a.attempt());
        if (list == &running) ref->set_started_ms(started_ms);
      }
    }
    return Deliver(worker, env);
  }

 private:
  Scheduler scheduler_;
  Outbox out_;
  int64_t now_us_ = 1'000'000'000;  // arbitrary, not zero
};

// Every Assignment sent to `peer`, in order.
inline std::vector<v1::Assignment> AssignmentsTo(const Sent& sent,
                                                 const std::string& peer) {
  std::vector<v1::Assignment> all;
  for (const auto& m : sent) {
    if (m.peer != peer || !m.envelope.has_assignments()) continue;
    for (const auto& a : m.envelope.assignments().assignments()) all.push_back(a);
  }
  return all;
}

// The value Report() put in a result's payload (its chunk index).
inline uint64_t ResultValue(const Sent& sent, const v1::ChunkResult& result) {
  for (const auto& m : sent) {
    if (!m.envelope.has_job_results()) continue;
    for (const auto& r : m.envelope.job_results().results()) {
      if (&r != &result) continue;
      v1::ChunkOutput output;
      output.ParseFromString(m.payloads.at(r.payload()).ToString());
      return output.values().values(0);
    }
  }
  ADD_FAILURE() << "result not in sent";
  return UINT64_MAX;
}

inline std::vector<v1::ChunkResult> ResultsTo(const Sent& sent,
                                              const std::string& peer) {
  std::vector<v1::ChunkResult> all;
  for (const auto& m : sent) {
    if (m.peer != peer || !m.envelope.has_job_results()) continue;
    for (const auto& r : m.envelope.job_results().results()) all.push_back(r);
  }
  return all;
}

// Envelopes to `peer` whose body is `body`.
inline std::vector<v1::Envelope> BodiesTo(const Sent& sent,
                                          const std::string& peer,
                                          v1::Envelope::BodyCase body) {
  std::vector<v1::Envelope> all;
  for (const auto& m : sent) {
    if (m.peer == peer && m.envelope.body_case() == body) {
      all.push_back(m.envelope);
    }
  }
  return all;
}

// The one JobFinished sent to `peer` (a test failure if not exactly one).
inline v1::JobFinished OnlyFinished(const Sent& sent, const std::string& peer) {
  auto finished = BodiesTo(sent, peer, v1::Envelope::kJobFinished);
  EXPECT_EQ(finished.size(), 1u);
  return finished.empty() ? v1::JobFinished() : finished[0].job_finished();
}

}  // namespace tq::testing

#endif  // TQ_TESTS_BROKER_SCHEDULER_TEST_UTIL_H_
