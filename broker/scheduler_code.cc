// Scheduler, part 4: what a worker can run, and admitting code jobs —
// whether this broker runs the job's runtime at all, whether the connected
// workers offer its version, and the shipped blobs checked against the
// digests the client claims (a blob is only ever run under its own digest).
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/scheduler.h"
#include "common/sha256.h"

namespace tq {
namespace {

bool Offers(const std::vector<v1::Runtime>& runtimes, const std::string& name,
            const std::string& version) {
  return std::any_of(runtimes.begin(), runtimes.end(),
                     [&](const v1::Runtime& r) {
                       return r.name() == name && r.version() == version;
                     });
}

}  // namespace

bool Scheduler::CanRun(const Peer& worker, const BrokerJob& job) const {
  if (job.is_code()) {
    const v1::CodeSpec& code = job.submit().code();
    return Offers(worker.runtimes, code.runtime(), code.runtime_version());
  }
  return worker.tasks.contains(job.submit().task());
}

bool Scheduler::ClassCanRun(const WorkerClass& worker_class,
                            const BrokerJob& job) const {
  BrokerJob::RunsOnMemo& memo = job.runs_on_memo();
  if (memo.key != &worker_class) {
    memo.key = &worker_class;
    memo.can_run = CanRun(worker_class.sample, job);
  }
  return memo.can_run;
}

absl::Status Scheduler::CheckCodeJob(const v1::SubmitJob& submit) const {
  const v1::CodeSpec& code = submit.code();
  if (std::find(options_.allow_code.begin(), options_.allow_code.end(),
                code.runtime()) == options_.allow_code.end()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "this broker does not run ", code.runtime(),
        " code; start tq-broker with --allow-code=", code.runtime(),
        options_.allow_code.empty()
            ? ""
            : absl::StrCat(" (it allows: ",
                           absl::StrJoin(options_.allow_code, ", "), ")")));
  }
  // Workers offering the runtime but none at the client's version would
  // never run it, and a pickle does not travel between versions: say so now
  // rather than leave the job waiting.
  std::set<std::string> versions;
  std::set<std::string> names;
  for (const auto& [id, peer] : peers_) {
    if (peer.role != v1::ROLE_WORKER) continue;
    for (const v1::Runtime& runtime : peer.runtimes) {
      if (runtime.name() != code.runtime()) continue;
      if (runtime.version() == code.runtime_version()) return absl::OkStatus();
      versions.insert(runtime.version());
      names.insert(peer.name);
    }
  }
  if (!versions.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this job needs ", code.runtime(), " ", code.runtime_version(),
        " (the client's version), but the connected workers offer ",
        code.runtime(), " ", absl::StrJoin(versions, ", "), " (",
        absl::StrJoin(names, ", "), "); run the client with ",
        code.runtime(), " ", absl::StrJoin(versions, " or "),
        ", or start workers with --python for ", code.runtime_version()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Payload>> Scheduler::TakeCodeBlobs(
    const v1::SubmitJob& submit, const std::vector<Payload>& payloads) const {
  std::vector<std::string> wanted = {submit.code().function_sha256()};
  if (!submit.code().initializer_sha256().empty()) {
    wanted.push_back(submit.code().initializer_sha256());
  }
  std::vector<Payload> blobs;
  for (const std::string& digest : wanted) {
    const v1::CodeBlob* found = nullptr;
    for (const v1::CodeBlob& blob : submit.code_blobs()) {
      if (blob.sha256() == digest) found = &blob;
    }
    if (found == nullptr || found->payload() >= payloads.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the job names code ", HexDigest(digest).substr(0, 12),
          "... but does not carry it"));
    }
    const Payload& payload = payloads[found->payload()];
    if (Sha256(payload) != digest) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the code blob sent as ", HexDigest(digest).substr(0, 12),
          "... does not match that SHA-256"));
    }
    blobs.push_back(payload);
  }
  return blobs;
}

std::string Scheduler::MissingCapability(const BrokerJob& job) const {
  bool any_worker = false;
  for (const auto& [id, peer] : peers_) {
    if (peer.role != v1::ROLE_WORKER || peer.draining) continue;
    if (CanRun(peer, job)) return "";
    any_worker = true;
  }
  // No worker at all is plain waiting for workers, unless the job needs
  // something particular (a runtime): then say what.
  if (!any_worker && !job.is_code()) return "";
  if (job.is_code()) {
    return absl::StrCat("a worker offering ", job.submit().code().runtime(),
                        " ", job.submit().code().runtime_version(),
                        " (tq-worker --allow-code=",
                        job.submit().code().runtime(), ")");
  }
  return absl::StrCat("a worker running task '", job.submit().task(), "'");
}

}  // namespace tq
