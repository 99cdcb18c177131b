// A harness for driving the Scheduler with fake time: peers are plain
// strings, time is an int64 of microseconds the test advances, and each step
// returns the envelopes the Scheduler queued.
#ifndef TQ_TESTS_BROKER_SCHEDULER_TEST_UTIL_H_
#define TQ_TESTS_BROKER_SCHEDULER_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "broker/outbox.h"
#include "broker/scheduler.h"
#include "gtest/gtest.h"
#include "tq/v1/tq.pb.h"

namespace tq::testing {

inline BrokerOptions TestOptions() {
  BrokerOptions options;
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
  explicit SchedulerHarness(BrokerOptions options = TestOptions())
      : scheduler_(options) {}

  Scheduler& scheduler() { return scheduler_; }
  int64_t now() const { return now_us_; }
  void AdvanceMs(int64_t ms) { now_us_ += ms * 1000; }

  Sent Deliver(const std::string& peer, v1::Envelope envelope) {
    scheduler_.OnMessage(peer, std::move(envelope), now_us_, &out_);
    return out_.Take();
  }
  Sent Tick() {
    scheduler_.OnTick(now_us_, &out_);
    return out_.Take();
  }

  Sent HelloWorker(const std::string& id, uint32_t threads, uint32_t credit) {
    v1::Envelope env;
    v1::Hello* hello = env.mutable_hello();
    hello->set_protocol_version(1);
    hello->set_role(v1::ROLE_WORKER);
    hello->set_name(id);
    hello->set_threads(threads);
    hello->set_credit(credit);
    return Deliver(id, env);
  }
  Sent HelloClient(const std::string& id) {
    v1::Envelope env;
    v1::Hello* hello = env.mutable_hello();
    hello->set_protocol_version(1);
    hello->set_role(v1::ROLE_CLIENT);
    hello->set_name(id);
    return Deliver(id, env);
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
  // Submits and returns the job id (0 and a test failure if refused).
  uint64_t Submit(const std::string& client, v1::Envelope submit,
                  Sent* sent = nullptr) {
    Sent out = Deliver(client, std::move(submit));
    if (sent != nullptr) *sent = out;
    for (const auto& m : out) {
      if (m.peer == client && m.envelope.has_job_accepted()) {
        return m.envelope.job_accepted().job_id();
      }
    }
    ADD_FAILURE() << "job not accepted";
    return 0;
  }
  Sent Report(const std::string& worker, const v1::Assignment& a,
              uint32_t credit = 1) {
    v1::Envelope env;
    v1::ChunkReports* reports = env.mutable_chunk_reports();
    v1::ChunkReport* r = reports->add_reports();
    r->set_job_id(a.job_id());
    r->set_chunk_index(a.chunk_index());
    r->set_attempt(a.attempt());
    r->mutable_output()->mutable_values()->add_values(a.chunk_index());
    reports->set_credit(credit);
    return Deliver(worker, env);
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

}  // namespace tq::testing

#endif  // TQ_TESTS_BROKER_SCHEDULER_TEST_UTIL_H_
