#include "tests/integration/local_cluster.h"

#include "gtest/gtest.h"

namespace tq::testing {

LocalCluster::LocalCluster(std::vector<std::string> broker_flags) {
  std::vector<std::string> argv = {BrokerBinary(), "--listen=tcp://127.0.0.1:*"};
  argv.insert(argv.end(), broker_flags.begin(), broker_flags.end());
  broker_ = std::make_unique<Subprocess>(argv);
  auto endpoint = broker_->WaitForStdoutLine("listening on ", std::chrono::seconds(10));
  if (!endpoint) {
    ADD_FAILURE() << "broker did not report its endpoint; stderr:\n"
                  << broker_->stderr_text();
    return;
  }
  endpoint_ = *endpoint;
}

Subprocess& LocalCluster::AddWorker(std::vector<std::string> flags) {
  std::vector<std::string> argv = {WorkerBinary(), "--broker=" + endpoint_};
  argv.insert(argv.end(), flags.begin(), flags.end());
  workers_.push_back(std::make_unique<Subprocess>(argv));
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
