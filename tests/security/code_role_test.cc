// Under CURVE with a code allowlist, only keys in it may submit code jobs:
// a real tq-broker and a real Python-running tq-worker over TCP loopback,
// and clients through the library with keys made by tq-keygen. A plain
// client key is refused with a message naming the allowlist; a code-client
// key runs its function and its ordinary jobs.
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "client/pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/local_cluster.h"
#include "tests/worker/python_test_util.h"

namespace tq::testing {
namespace {

using ::testing::HasSubstr;

class CodeRoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/tq-code-role-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    keys_ = pattern;
    MakeKey("broker", keys_);
    MakeKey("alice", keys_ + "/clients");
    MakeKey("bob", keys_ + "/code-clients");
    MakeKey("w1", keys_ + "/workers");
  }
  void TearDown() override { std::filesystem::remove_all(keys_); }

  void MakeKey(const std::string& name, const std::string& dir) {
    Subprocess keygen({TQ_KEYGEN_BIN, name, "--out-dir=" + dir});
    auto status = keygen.Wait(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value());
    ASSERT_EQ(status->code, 0) << keygen.stderr_text();
  }

  absl::StatusOr<std::unique_ptr<Pool>> Connect(const LocalCluster& cluster,
                                                const std::string& key) {
    ClientOptions options;
    options.broker = cluster.endpoint();
    options.curve_key_file = keys_ + "/" + key;
    options.curve_server_key_file = keys_ + "/broker.pub";
    return Pool::Connect(options);
  }

  std::string keys_;
};

JobSpec SquareJob() {
  JobSpec spec;
  CodeSpec code;
  code.runtime_version = "3.11";
  code.function = *PickleCode("", "lambda x: x * x").bytes;
  spec.code = code;
  spec.input = StreamedInput{{NumberRange{2, 4}}, /*complete=*/true};
  return spec;
}

TEST_F(CodeRoleTest, OnlyCodeClientKeysSubmitCode) {
  LocalCluster cluster({"--curve-key=" + keys_ + "/broker.key",
                        "--curve-clients=" + keys_ + "/clients",
                        "--curve-code-clients=" + keys_ + "/code-clients",
                        "--curve-workers=" + keys_ + "/workers",
                        "--allow-code=python"});
  cluster.AddWorker({"--threads=1", "--allow-code=python",
                     "--python=" + std::string(kPython),
                     "--curve-key=" + keys_ + "/workers/w1.key",
                     "--curve-server-key=" + keys_ + "/broker.pub"},
                    {std::string("PYTHONPATH=") + TQ_PYTHON_SOURCE_DIR});

  absl::StatusOr<std::unique_ptr<Pool>> alice = Connect(cluster, "clients/alice.key");
  ASSERT_TRUE(alice.ok()) << alice.status();
  absl::StatusOr<std::unique_ptr<Job>> refused = (*alice)->Submit(SquareJob());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("--curve-code-clients"));
  // Alice's ordinary jobs still run.
  JobSpec primes;
  primes.task = "primes";
  primes.input = NumberRange{1, 100};
  primes.reduction = Reduction::kCount;
  absl::StatusOr<std::vector<ChunkResult>> counted = (*alice)->Map(primes);
  ASSERT_TRUE(counted.ok()) << counted.status();

  absl::StatusOr<std::unique_ptr<Pool>> bob = Connect(cluster, "code-clients/bob.key");
  ASSERT_TRUE(bob.ok()) << bob.status();
  absl::StatusOr<std::vector<ChunkResult>> squares = (*bob)->Map(SquareJob());
  ASSERT_TRUE(squares.ok()) << squares.status();
  ASSERT_EQ(squares->size(), 1u);
  EXPECT_EQ(Unpickle((*squares)[0].bytes()), "[4, 9, 16]");
}

}  // namespace
}  // namespace tq::testing
