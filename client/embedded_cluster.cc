#include "client/embedded_cluster.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tq {

absl::StatusOr<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::Start(
    int threads, const std::optional<EmbeddedPython>& python) {
  static std::atomic<uint64_t> next_id{0};
  std::unique_ptr<EmbeddedCluster> cluster(new EmbeddedCluster);
  cluster->endpoint_ =
      absl::StrCat("inproc://tq-embedded-", getpid(), "-", next_id++);

  BrokerOptions broker_options;
  broker_options.listen = {cluster->endpoint_};
  if (python.has_value()) broker_options.allow_code = {"python"};
  WorkerOptions worker_options;
  worker_options.broker = cluster->endpoint_;
  worker_options.threads = threads;
  worker_options.name = "embedded";
  if (python.has_value()) {
    worker_options.allow_code = {"python"};
    worker_options.python = python->interpreter;
    worker_options.python_version = python->version;
    worker_options.python_detail = python->detail;
    worker_options.python_path = python->path;
  }
  // The worker's Run() would refuse bad options only on its own thread,
  // leaving a cluster with no worker: refuse them here, before anything
  // starts. Bind() checks the broker's.
  TQ_RETURN_IF_ERROR(ValidateWorkerOptions(worker_options));

  cluster->broker_ =
      std::make_unique<Broker>(broker_options, &cluster->context_);
  if (absl::Status bound = cluster->broker_->Bind(); !bound.ok()) {
    return bound;
  }
  cluster->broker_thread_ = std::thread([broker = cluster->broker_.get()] {
    if (absl::Status status = broker->Run(); !status.ok()) {
      fprintf(stderr, "tq: embedded broker: %s\n", status.ToString().c_str());
    }
  });

  cluster->worker_ =
      std::make_unique<Worker>(worker_options, &cluster->context_);
  cluster->worker_thread_ = std::thread([worker = cluster->worker_.get()] {
    if (absl::Status status = worker->Run(); !status.ok()) {
      fprintf(stderr, "tq: embedded worker: %s\n", status.ToString().c_str());
    }
  });
  return cluster;
}

EmbeddedCluster::~EmbeddedCluster() {
  // Worker first: it says Goodbye to a broker that is still listening.
  if (worker_) worker_->Stop();
  if (worker_thread_.joinable()) worker_thread_.join();
  if (broker_) broker_->Stop();
  if (broker_thread_.joinable()) broker_thread_.join();
  worker_.reset();
  broker_.reset();
}

}  // namespace tq
