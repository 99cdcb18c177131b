// The standby pair's Binary Star state machine (broker/pair_state.h) with
// fake time: who becomes active, when a passive takes over, and fencing.
#include "broker/pair_state.h"

#include "gtest/gtest.h"

namespace tq {
namespace {

constexpr int64_t kTimeoutUs = 2'000'000;

v1::PairHeartbeat Peer(v1::PairStateName state, uint64_t epoch,
                       uint64_t stream = 0) {
  v1::PairHeartbeat heartbeat;
  heartbeat.set_state(state);
  heartbeat.set_epoch(epoch);
  heartbeat.set_stream(stream);
  return heartbeat;
}

TEST(PairStateTest, ThePrimaryBecomesActiveOnHearingTheBackup) {
  PairState primary(PairRole::kPrimary, kTimeoutUs, 4, 0);
  PairState backup(PairRole::kBackup, kTimeoutUs, 0, 0);
  EXPECT_EQ(primary.state(), v1::PAIR_STATE_PRIMARY);
  EXPECT_EQ(backup.state(), v1::PAIR_STATE_BACKUP);
  primary.OnHeartbeat(backup.Heartbeat(0), 100);
  EXPECT_TRUE(primary.active());
  EXPECT_EQ(primary.epoch(), 5u);  // above the epoch its journal had
  backup.OnHeartbeat(primary.Heartbeat(7), 200);
  EXPECT_TRUE(backup.passive());
  EXPECT_EQ(backup.epoch(), 5u);
  EXPECT_EQ(backup.peer_stream(), 7u);
  const std::vector<PairTransition> log = backup.TakeTransitions();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].ToString(), "backup -> passive (peer is active, epoch 5)");
}

TEST(PairStateTest, APassiveRefusesWhileItsPeerSpeaks) {
  PairState passive(PairRole::kBackup, kTimeoutUs, 0, 0);
  passive.OnHeartbeat(Peer(v1::PAIR_STATE_ACTIVE, 1), 0);
  ASSERT_TRUE(passive.passive());
  passive.OnHeartbeat(Peer(v1::PAIR_STATE_ACTIVE, 1), 1'500'000);
  // The link alone failing changes nothing until someone asks.
  EXPECT_FALSE(passive.OnRequest(3'000'000, true));  // heard 1.5 s ago
  EXPECT_TRUE(passive.passive());
  EXPECT_FALSE(passive.PeerSilent(3'000'000));
  EXPECT_TRUE(passive.PeerSilent(3'500'000));
  EXPECT_TRUE(passive.passive());  // silent, but nobody asked
}

TEST(PairStateTest, APassiveTakesOverWhenItsPeerIsSilentAndAClientAsks) {
  PairState passive(PairRole::kBackup, kTimeoutUs, 0, 0);
  passive.OnHeartbeat(Peer(v1::PAIR_STATE_ACTIVE, 3), 1'000'000);
  EXPECT_FALSE(passive.OnRequest(2'999'999, true));
  EXPECT_TRUE(passive.OnRequest(3'000'000, true));
  EXPECT_TRUE(passive.active());
  EXPECT_EQ(passive.epoch(), 4u);
  const std::vector<PairTransition> log = passive.TakeTransitions();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].to, v1::PAIR_STATE_ACTIVE);
  EXPECT_NE(log[1].why.find("a client or worker that lost it asked"),
            std::string::npos);
}

// Only a client or worker that could not reach the active makes a passive
// take over: one that merely lists this broker first is sent on, so a cut
// link between the brokers makes no second active.
TEST(PairStateTest, APassiveTakesOverOnlyForAPeerThatLostTheActive) {
  PairState passive(PairRole::kBackup, kTimeoutUs, 0, 0);
  passive.OnHeartbeat(Peer(v1::PAIR_STATE_ACTIVE, 3), 0);
  EXPECT_FALSE(passive.OnRequest(60'000'000, false));
  EXPECT_TRUE(passive.passive());
  EXPECT_TRUE(passive.OnRequest(60'000'000, true));
  EXPECT_TRUE(passive.active());
}

TEST(PairStateTest, ABackupNeverPassiveNeverServes) {
  PairState backup(PairRole::kBackup, kTimeoutUs, 9, 0);
  EXPECT_FALSE(backup.OnRequest(0, true));
  EXPECT_FALSE(backup.OnRequest(60'000'000, true));  // its journal may be stale
  EXPECT_EQ(backup.state(), v1::PAIR_STATE_BACKUP);
}

TEST(PairStateTest, AStartedPrimaryServesAloneOnlyAfterHearingNothing) {
  PairState primary(PairRole::kPrimary, kTimeoutUs, 2, 1'000'000);
  EXPECT_FALSE(primary.OnRequest(2'000'000, true));  // the backup may be active
  EXPECT_EQ(primary.state(), v1::PAIR_STATE_PRIMARY);
  EXPECT_TRUE(primary.OnRequest(3'000'000, true));
  EXPECT_TRUE(primary.active());
  EXPECT_EQ(primary.epoch(), 3u);
}

TEST(PairStateTest, ARestartedPrimaryFollowsTheActiveBackup) {
  PairState primary(PairRole::kPrimary, kTimeoutUs, 2, 0);
  primary.OnHeartbeat(Peer(v1::PAIR_STATE_ACTIVE, 3), 10);
  EXPECT_TRUE(primary.passive());
  EXPECT_FALSE(primary.OnRequest(20, true));
}

TEST(PairStateTest, APassiveBecomesActiveWhenItsPeerRestarts) {
  PairState passive(PairRole::kBackup, kTimeoutUs, 0, 0);
  passive.OnHeartbeat(Peer(v1::PAIR_STATE_ACTIVE, 1), 0);
  passive.OnHeartbeat(Peer(v1::PAIR_STATE_PRIMARY, 1), 500'000);
  EXPECT_TRUE(passive.active());
  EXPECT_EQ(passive.epoch(), 2u);
  // The restarted primary hears it and follows: no two actives.
  PairState restarted(PairRole::kPrimary, kTimeoutUs, 1, 500'000);
  restarted.OnHeartbeat(passive.Heartbeat(11), 600'000);
  EXPECT_TRUE(restarted.passive());
}

TEST(PairStateTest, TwoActivesFenceTheLowerEpoch) {
  PairState old_primary(PairRole::kPrimary, kTimeoutUs, 0, 0);
  old_primary.OnHeartbeat(Peer(v1::PAIR_STATE_BACKUP, 0), 0);
  ASSERT_TRUE(old_primary.active());
  ASSERT_EQ(old_primary.epoch(), 1u);
  PairState backup(PairRole::kBackup, kTimeoutUs, 0, 0);
  backup.OnHeartbeat(old_primary.Heartbeat(1), 0);
  ASSERT_TRUE(backup.OnRequest(5'000'000, true));  // the primary was cut off
  ASSERT_EQ(backup.epoch(), 2u);
  // The partition heals: each hears the other active.
  backup.OnHeartbeat(old_primary.Heartbeat(1), 6'000'000);
  EXPECT_TRUE(backup.stop().ok());
  EXPECT_TRUE(backup.active());
  old_primary.OnHeartbeat(backup.Heartbeat(2), 6'000'000);
  EXPECT_TRUE(absl::IsAborted(old_primary.stop()));
  EXPECT_NE(old_primary.stop().message().find("fenced"), std::string::npos);
  EXPECT_FALSE(old_primary.OnRequest(6'000'001, true));  // it serves no more
  EXPECT_EQ(old_primary.epoch(), 1u);
}

TEST(PairStateTest, AtEqualEpochsTheBackupIsFenced) {
  PairState backup(PairRole::kBackup, kTimeoutUs, 0, 0);
  backup.OnHeartbeat(Peer(v1::PAIR_STATE_ACTIVE, 4), 0);
  ASSERT_TRUE(backup.OnRequest(kTimeoutUs, true));
  ASSERT_EQ(backup.epoch(), 5u);
  backup.OnHeartbeat(Peer(v1::PAIR_STATE_ACTIVE, 5), kTimeoutUs + 1);
  EXPECT_TRUE(absl::IsAborted(backup.stop()));
}

TEST(PairStateTest, TwoPrimariesAreAMisconfiguration) {
  PairState primary(PairRole::kPrimary, kTimeoutUs, 0, 0);
  primary.OnHeartbeat(Peer(v1::PAIR_STATE_PRIMARY, 0), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(primary.stop()));
  EXPECT_NE(primary.stop().message().find("--pair=primary"), std::string::npos);
  EXPECT_FALSE(primary.active());
}

TEST(PairStateTest, HeartbeatsGoEveryQuarterTimeout) {
  PairState state(PairRole::kPrimary, kTimeoutUs, 0, 0);
  EXPECT_TRUE(state.HeartbeatDue(0));
  state.HeartbeatSent(0);
  EXPECT_FALSE(state.HeartbeatDue(499'999));
  EXPECT_TRUE(state.HeartbeatDue(500'000));
  EXPECT_EQ(state.NextDeadlineUs(), 500'000);
  // Only an active names its stream.
  EXPECT_EQ(state.Heartbeat(42).stream(), 0u);
}

}  // namespace
}  // namespace tq
