// Key files (tq-keygen's format and its errors), the ZAP handler's decision,
// per-message authorisation, and fail-closed CURVE sockets in-process.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "broker/peer_authorizer.h"
#include "broker/zap_handler.h"
#include "common/curve.h"
#include "common/protocol.h"
#include "common/handshake_monitor.h"
#include "common/zmq_socket.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

using ::testing::HasSubstr;

class CurveKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/tq-curve-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text,
                    mode_t mode = 0600) {
    std::string path = dir_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }

  std::string dir_;
};

TEST_F(CurveKeysTest, WrittenPairLoadsBackWithSecretModeOwnerOnly) {
  absl::StatusOr<CurveKeyPair> pair = NewCurveKeyPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_TRUE(WriteCurveKeyFiles(dir_, "alice", *pair).ok());
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/alice.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  absl::StatusOr<CurveKeyPair> loaded = LoadCurveSecretKey(dir_ + "/alice.key");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->secret_key, pair->secret_key);
  EXPECT_EQ(loaded->public_key, pair->public_key);
  absl::StatusOr<std::string> pub = LoadCurvePublicKey(dir_ + "/alice.pub");
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(*pub, pair->public_key);
}

TEST_F(CurveKeysTest, RefusesToOverwriteEitherFile) {
  absl::StatusOr<CurveKeyPair> pair = NewCurveKeyPair();
  ASSERT_TRUE(pair.ok());
  Write("bob.pub", "old");
  absl::Status s = WriteCurveKeyFiles(dir_, "bob", *pair);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), HasSubstr("bob.pub"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/bob.key"));
  std::ifstream in(dir_ + "/bob.pub");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "old");
}

TEST_F(CurveKeysTest, MissingFileIsNotFoundNamingIt) {
  auto key = LoadCurvePublicKey(dir_ + "/nope.pub");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("nope.pub"));
}

TEST_F(CurveKeysTest, UnreadableFileIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every file";
  std::string path = Write("locked.pub", "x", 0000);
  auto key = LoadCurvePublicKey(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("locked.pub"));
}

TEST_F(CurveKeysTest, DirectoryIsNotAKeyFile) {
  std::filesystem::create_directories(dir_ + "/d.pub");
  auto key = LoadCurvePublicKey(dir_ + "/d.pub");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("not a regular file"));
}

TEST_F(CurveKeysTest, WrongLengthSaysHowLong) {
  std::string path = Write("short.pub", "public-key = \"abc\"\n");
  auto key = LoadCurvePublicKey(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()),
              HasSubstr("is 3 characters long; a Z85 CURVE key has 40"));
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("short.pub"));
}

TEST_F(CurveKeysTest, NonZ85TextIsRefused) {
  std::string path = Write("bad.pub", "public-key = \"" + std::string(40, '~') + "\"\n");
  auto key = LoadCurvePublicKey(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("not Z85"));
}

TEST_F(CurveKeysTest, BareKeyLineIsAccepted) {
  auto pair = NewCurveKeyPair();
  ASSERT_TRUE(pair.ok());
  std::string path = Write("bare.pub", pair->public_key + "\n");
  auto key = LoadCurvePublicKey(path);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, pair->public_key);
}

TEST_F(CurveKeysTest, WorldReadableSecretIsRefused) {
  auto pair = NewCurveKeyPair();
  ASSERT_TRUE(pair.ok());
  std::string path = Write("open.key", "secret-key = \"" + pair->secret_key + "\"\n", 0644);
  auto key = LoadCurveSecretKey(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("readable by other users"));
}

TEST_F(CurveKeysTest, GroupReadableSecretLoadsWithAWarning) {
  auto pair = NewCurveKeyPair();
  ASSERT_TRUE(pair.ok());
  std::string path = Write("group.key", "secret-key = \"" + pair->secret_key + "\"\n", 0640);
  std::string warning;
  auto key = LoadCurveSecretKey(path, &warning);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->public_key, pair->public_key);  // derived
  EXPECT_THAT(warning, HasSubstr("readable by its group"));
}

TEST_F(CurveKeysTest, PublicFileGivenAsSecretIsRefused) {
  auto pair = NewCurveKeyPair();
  ASSERT_TRUE(pair.ok());
  std::string path = Write("x.pub", "public-key = \"" + pair->public_key + "\"\n");
  auto key = LoadCurveSecretKey(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("holds no secret key"));
}

TEST_F(CurveKeysTest, SecretFileGivenAsPublicIsRefused) {
  auto pair = NewCurveKeyPair();
  ASSERT_TRUE(pair.ok());
  ASSERT_TRUE(WriteCurveKeyFiles(dir_, "s", *pair).ok());
  auto key = LoadCurvePublicKey(dir_ + "/s.key");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("holds a secret key"));
}

TEST_F(CurveKeysTest, PublicKeyNotMatchingSecretIsRefused) {
  auto a = NewCurveKeyPair(), b = NewCurveKeyPair();
  ASSERT_TRUE(a.ok() && b.ok());
  std::string path = Write("mixed.key", "public-key = \"" + b->public_key +
                                            "\"\nsecret-key = \"" + a->secret_key + "\"\n");
  auto key = LoadCurveSecretKey(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("does not belong"));
}

TEST_F(CurveKeysTest, AllowlistNamesKeysByFileSkippingOthers) {
  auto a = NewCurveKeyPair(), b = NewCurveKeyPair();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(WriteCurveKeyFiles(dir_, "alice", *a).ok());
  ASSERT_TRUE(WriteCurveKeyFiles(dir_, "bob", *b).ok());
  Write(".hidden.pub", "garbage");
  Write("notes.txt", "garbage");
  absl::StatusOr<CurveAllowlist> list = LoadCurveAllowlist(dir_);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(list->at(a->public_key), "alice");
  EXPECT_EQ(list->at(b->public_key), "bob");
}

TEST_F(CurveKeysTest, AllowlistErrorsNameTheBadFileOrMissingDirectory) {
  EXPECT_EQ(LoadCurveAllowlist(dir_ + "/missing").status().code(),
            absl::StatusCode::kNotFound);
  Write("broken.pub", "public-key = \"short\"\n");
  auto list = LoadCurveAllowlist(dir_);
  EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(list.status().message()), HasSubstr("broken.pub"));
}

TEST_F(CurveKeysTest, ClientKeysNeedBothFilesOrNeither) {
  auto none = LoadCurveClientKeys("", "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(LoadCurveClientKeys(dir_ + "/a.key", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- The ZAP decision and per-message authorisation.

std::vector<std::string> ZapRequest(const std::string& z85_key,
                                    const std::string& mechanism = "CURVE",
                                    const std::string& domain = kCurveZapDomain) {
  std::string binary(32, '\0');
  zmq_z85_decode(reinterpret_cast<uint8_t*>(binary.data()), z85_key.c_str());
  return {"1.0", "7", domain, "127.0.0.1", "", mechanism, binary};
}

// A standby pair's link admits the peer broker's key only, and no other
// domain's key (a client's) gets onto it, nor the peer's onto the main one.
TEST(DecideZapRequestTest, ThePairLinkAdmitsOnlyThePeerBroker) {
  auto peer = NewCurveKeyPair(), client = NewCurveKeyPair();
  ASSERT_TRUE(peer.ok() && client.ok());
  ZapReply r = DecidePairZapRequest(
      ZapRequest(peer->public_key, "CURVE", kPairZapDomain), true,
      peer->public_key);
  EXPECT_EQ(r.status_code, "200");
  EXPECT_EQ(r.user_id, "pair-peer");
  r = DecidePairZapRequest(
      ZapRequest(client->public_key, "CURVE", kPairZapDomain), true,
      peer->public_key);
  EXPECT_EQ(r.status_code, "400");
  r = DecidePairZapRequest(ZapRequest(peer->public_key), true, peer->public_key);
  EXPECT_EQ(r.status_code, "400") << "the main domain is not the pair's";
  CurveAllowlist clients = {{client->public_key, "alice"}};
  r = DecideZapRequest(ZapRequest(peer->public_key), clients, {});
  EXPECT_EQ(r.status_code, "400") << "the peer's key is no client";
  // Plaintext: the NULL mechanism, as on the main socket.
  auto plain = ZapRequest(peer->public_key, "NULL", kPairZapDomain);
  plain.pop_back();
  EXPECT_EQ(DecidePairZapRequest(plain, false, "").status_code, "200");
  EXPECT_EQ(DecidePairZapRequest(
                ZapRequest(peer->public_key, "CURVE", kPairZapDomain), false, "")
                .status_code,
            "400");
}

TEST(DecideZapRequestTest, NamesTheRoleOfAllowlistedKeysAndRefusesOthers) {
  auto client = NewCurveKeyPair(), worker = NewCurveKeyPair(), other = NewCurveKeyPair();
  ASSERT_TRUE(client.ok() && worker.ok() && other.ok());
  CurveAllowlist clients = {{client->public_key, "alice"}};
  CurveAllowlist workers = {{worker->public_key, "w1"}};
  ZapReply r = DecideZapRequest(ZapRequest(client->public_key), clients, workers);
  EXPECT_EQ(r.status_code, "200");
  EXPECT_EQ(r.user_id, "client:alice");
  EXPECT_EQ(r.request_id, "7");
  r = DecideZapRequest(ZapRequest(worker->public_key), clients, workers);
  EXPECT_EQ(r.status_code, "200");
  EXPECT_EQ(r.user_id, "worker:w1");
  r = DecideZapRequest(ZapRequest(other->public_key), clients, workers);
  EXPECT_EQ(r.status_code, "400");
  EXPECT_EQ(r.user_id, "");
  auto plain = ZapRequest(client->public_key, "NULL");
  plain.pop_back();
  EXPECT_EQ(DecideZapRequest(plain, clients, workers).status_code, "400");
  EXPECT_EQ(DecideZapRequest({"1.0"}, clients, workers).status_code, "500");
}

v1::Envelope Hello(v1::Role role) {
  v1::Envelope env;
  env.mutable_hello()->set_protocol_version(kProtocolVersion);
  env.mutable_hello()->set_role(role);
  return env;
}

TEST(PeerAuthorizerTest, HelloMustClaimTheKeysRole) {
  PeerAuthorizer auth;
  EXPECT_TRUE(auth.Check("p1", "client:alice", Hello(v1::ROLE_CLIENT)).ok());
  absl::Status denied = auth.Check("p2", "client:alice", Hello(v1::ROLE_WORKER));
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(denied.message()),
              HasSubstr("may connect as a client only, not as a worker"));
  EXPECT_EQ(auth.Check("p3", "worker:w1", Hello(v1::ROLE_CLIENT)).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(PeerAuthorizerTest, LaterMessagesMustComeFromTheRegisteringKey) {
  PeerAuthorizer auth;
  ASSERT_TRUE(auth.Check("p1", "worker:w1", Hello(v1::ROLE_WORKER)).ok());
  v1::Envelope heartbeat;
  heartbeat.mutable_heartbeat();
  EXPECT_TRUE(auth.Check("p1", "worker:w1", heartbeat).ok());
  EXPECT_EQ(auth.Check("p1", "client:alice", heartbeat).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(auth.Check("p1", "", heartbeat).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(DecideZapRequestTest, CodeClientsAreClientsWithTheirOwnUserId) {
  auto coder = NewCurveKeyPair(), client = NewCurveKeyPair();
  ASSERT_TRUE(coder.ok() && client.ok());
  CurveAllowlist clients = {{client->public_key, "alice"}};
  CurveAllowlist code_clients = {{coder->public_key, "bob"}};
  ZapReply r = DecideZapRequest(ZapRequest(coder->public_key), clients, {},
                                code_clients);
  EXPECT_EQ(r.status_code, "200");
  EXPECT_EQ(r.user_id, "code-client:bob");
  EXPECT_EQ(RoleOfUserId(r.user_id), v1::ROLE_CLIENT);
  r = DecideZapRequest(ZapRequest(client->public_key), clients, {}, code_clients);
  EXPECT_EQ(r.user_id, "client:alice");
}

TEST(PeerAuthorizerTest, WithACodeAllowlistOnlyCodeClientsSubmitCode) {
  v1::Envelope code_job;
  code_job.mutable_submit_job()->mutable_code()->set_runtime("python");
  v1::Envelope task_job;
  task_job.mutable_submit_job()->set_task("primes");
  PeerAuthorizer strict(/*code_needs_key=*/true);
  ASSERT_TRUE(strict.Check("p1", "client:alice", Hello(v1::ROLE_CLIENT)).ok());
  EXPECT_TRUE(strict.Check("p1", "client:alice", task_job).ok());
  absl::Status denied = strict.Check("p1", "client:alice", code_job);
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(denied.message()), HasSubstr("--curve-code-clients"));
  ASSERT_TRUE(strict.Check("p2", "code-client:bob", Hello(v1::ROLE_CLIENT)).ok());
  EXPECT_TRUE(strict.Check("p2", "code-client:bob", code_job).ok());
  // Without a code allowlist the key decides nothing about code.
  PeerAuthorizer open;
  ASSERT_TRUE(open.Check("p1", "client:alice", Hello(v1::ROLE_CLIENT)).ok());
  EXPECT_TRUE(open.Check("p1", "client:alice", code_job).ok());
}

// --- Real sockets: fail closed, and the User-Id reaching each message.

class CurveServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = NewCurveKeyPair(), client = NewCurveKeyPair();
    ASSERT_TRUE(server.ok() && client.ok());
    server_key_ = *server;
    client_keys_.own = *client;
    client_keys_.server_public_key = server->public_key;
    router_.emplace(context_, zmq::socket_type::router);
    router_->set(zmq::sockopt::linger, 0);
    ASSERT_TRUE(ApplyCurveServer(*router_, server_key_).ok());
  }
  void TearDown() override {
    monitor_.reset();
    dealer_.reset();
    router_.reset();
    zap_.reset();
  }

  void ConnectClient() {
    router_->bind("tcp://127.0.0.1:*");
    dealer_.emplace(context_, zmq::socket_type::dealer);
    dealer_->set(zmq::sockopt::linger, 0);
    ASSERT_TRUE(ApplyCurveClient(*dealer_, client_keys_).ok());
    auto monitor = HandshakeMonitor::Attach(context_, *dealer_, "test", true);
    ASSERT_TRUE(monitor.ok());
    monitor_ = *std::move(monitor);
    dealer_->connect(LastEndpoint(*router_));
  }

  // Serves the ZAP handler (if any) and waits for a message on the ROUTER
  // or a handshake verdict on the client, up to `timeout`.
  std::optional<Received> Exchange(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool sent = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!sent) {
        v1::Envelope heartbeat;
        heartbeat.mutable_heartbeat();
        sent = Send(*dealer_, heartbeat).ok();
      }
      std::vector<zmq::pollitem_t> items = {{router_->handle(), 0, ZMQ_POLLIN, 0}};
      if (zap_) items.push_back({zap_->socket().handle(), 0, ZMQ_POLLIN, 0});
      PollIgnoringEintr(items, std::chrono::milliseconds(20));
      if (zap_) zap_->AnswerPending({});
      if (auto received = TryReceive(*router_, true)) return received;
      monitor_->Poll();
      if (!monitor_->failure().empty()) return std::nullopt;
    }
    return std::nullopt;
  }

  zmq::context_t context_;
  CurveKeyPair server_key_;
  CurveClientKeys client_keys_;
  std::optional<zmq::socket_t> router_, dealer_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<HandshakeMonitor> monitor_;
};

TEST_F(CurveServerTest, WithoutZapHandlerEveryPeerIsRefused) {
  ConnectClient();
  EXPECT_FALSE(Exchange(std::chrono::milliseconds(1500)).has_value());
  EXPECT_FALSE(monitor_->handshake_succeeded());
}

TEST_F(CurveServerTest, AllowlistedKeyGetsInWithItsUserIdOnEachMessage) {
  zap_ = std::make_unique<ZapHandler>(
      CurveAllowlist{{client_keys_.own.public_key, "alice"}}, CurveAllowlist{});
  ASSERT_TRUE(zap_->Bind(context_).ok());
  ConnectClient();
  std::optional<Received> received = Exchange(std::chrono::seconds(10));
  ASSERT_TRUE(received.has_value()) << monitor_->failure();
  EXPECT_EQ(received->user_id, "client:alice");
  EXPECT_EQ(zap_->accepted(), 1u);
}

TEST_F(CurveServerTest, UnknownKeyIsRefusedAndTheClientIsTold) {
  zap_ = std::make_unique<ZapHandler>(CurveAllowlist{}, CurveAllowlist{});
  ASSERT_TRUE(zap_->Bind(context_).ok());
  ConnectClient();
  EXPECT_FALSE(Exchange(std::chrono::seconds(10)).has_value());
  EXPECT_THAT(monitor_->failure(), HasSubstr("refused our CURVE key"));
  EXPECT_GE(zap_->refused(), 1u);
}

TEST_F(CurveServerTest, SecondZapHandlerInOneContextFailsToBind) {
  zap_ = std::make_unique<ZapHandler>(CurveAllowlist{}, CurveAllowlist{});
  ASSERT_TRUE(zap_->Bind(context_).ok());
  ZapHandler second(CurveAllowlist{}, CurveAllowlist{});
  absl::Status s = second.Bind(context_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("ZAP handler"));
}

}  // namespace
}  // namespace tq
