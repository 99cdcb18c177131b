// Liveness, the heartbeat / silence / back-off policy of the worker and the
// client, with fake time.
#include "common/liveness.h"

#include "gtest/gtest.h"

namespace tq {
namespace {

constexpr int64_t kMs = 1000;

TEST(LivenessTest, TheWelcomeShortensTheIntervalAndNeverTheSilenceBelowTwoOfIts) {
  Liveness liveness(LivenessOptions{1'000, 3'000, 100, 5'000});
  liveness.Connecting(0);
  v1::Welcome welcome;
  welcome.set_heartbeat_interval_ms(400);
  liveness.Welcomed(welcome, 0);
  EXPECT_EQ(liveness.interval_us(), 400 * kMs);  // the broker wants more often
  EXPECT_EQ(liveness.timeout_us(), 3'000 * kMs);
  welcome.set_heartbeat_interval_ms(2'500);       // a slow broker
  liveness.Welcomed(welcome, 0);
  EXPECT_EQ(liveness.interval_us(), 1'000 * kMs);
  EXPECT_EQ(liveness.timeout_us(), 5'000 * kMs);  // 2 x its interval
}

TEST(LivenessTest, HeartbeatsAfterAQuietIntervalAndIsSilentAfterTheTimeout) {
  Liveness liveness(LivenessOptions{1'000, 3'000, 100, 5'000});
  liveness.Connecting(0);
  liveness.Welcomed(v1::Welcome(), 0);
  EXPECT_FALSE(liveness.HeartbeatDue(999 * kMs));
  EXPECT_TRUE(liveness.HeartbeatDue(1'000 * kMs));
  liveness.Sent(1'000 * kMs);
  EXPECT_EQ(liveness.NextDeadlineUs(), 2'000 * kMs);
  EXPECT_FALSE(liveness.Silent(2'999 * kMs));
  EXPECT_TRUE(liveness.Silent(3'000 * kMs));
  liveness.Heard(2'500 * kMs);
  EXPECT_FALSE(liveness.Silent(3'000 * kMs));
  EXPECT_EQ(liveness.silent_ms(3'000 * kMs), 500);
}

TEST(LivenessTest, BackOffDoublesToTheMaximumAndStartsOverOnWelcome) {
  Liveness liveness(LivenessOptions{1'000, 3'000, 100, 500});
  EXPECT_EQ(liveness.Connecting(0), 100 * kMs);
  EXPECT_EQ(liveness.Connecting(0), 200 * kMs);
  EXPECT_EQ(liveness.Connecting(0), 400 * kMs);
  EXPECT_EQ(liveness.Connecting(0), 500 * kMs);
  EXPECT_EQ(liveness.Connecting(0), 500 * kMs);
  liveness.Welcomed(v1::Welcome(), 0);
  EXPECT_EQ(liveness.Connecting(0), 100 * kMs);
}

}  // namespace
}  // namespace tq
