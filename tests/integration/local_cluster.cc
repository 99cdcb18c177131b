#include "tests/integration/local_cluster.h"

#include <signal.h>

#include "gtest/gtest.h"

namespace tq::testing {

LocalCluster::LocalCluster(std::vector<std::string> broker_flags)
    : broker_flags_(std::move(broker_flags)) {
  StartBroker("tcp://127.0.0.1:*");
}

void LocalCluster::StartBroker(const std::string& listen) {
  std::vector<std::string> argv = {BrokerBinary(), "--listen=" + listen};
  argv.insert(argv.end(), broker_flags_.begin(), broker_flags_.end());
  broker_ = std::make_unique<Subprocess>(argv);
  auto endpoint = broker_->WaitForStdoutLine("listening on ", std::chrono::seconds(10));
  if (!endpoint) {
    ADD_FAILURE() << "broker did not report its endpoint; stderr:\n"
                  << broker_->stderr_text();
    return;
  }
  endpoint_ = *endpoint;
}

void LocalCluster::RestartBroker() {
  broker_->Signal(SIGKILL);
  broker_->Wait(std::chrono::seconds(10));
  StartBroker(endpoint_);
}

Subprocess& LocalCluster::AddWorker(std::vector<std::string> flags,
                                    std::vector<std::string> extra_env) {
  std::vector<std::string> argv = {WorkerBinary(), "--broker=" + endpoint_};
  argv.insert(argv.end(), flags.begin(), flags.end());
  workers_.push_back(std::make_unique<Subprocess>(argv, std::move(extra_env)));
  return *workers_.back();
}

std::unique_ptr<Subprocess> LocalCluster::StartClient(std::vector<std::string> args,
                                                      std::string stdin_data) {
  std::vector<std::string> argv = {ClientBinary(), "--broker=" + endpoint_};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<Subprocess>(argv, std::vector<std::string>{},
                                      std::move(stdin_data));
}

}  // namespace tq::testing
