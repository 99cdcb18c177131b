// DeliveryLedger: delivered results until they are acknowledged; what an
// attaching client gets computed again.
#include "broker/delivery_ledger.h"

#include "gtest/gtest.h"

namespace tq {
namespace {

ItemRuns Runs(std::initializer_list<std::pair<uint64_t, uint64_t>> runs) {
  ItemRuns out;
  for (const auto& [first, count] : runs) out.Add(first, count);
  return out;
}

TEST(DeliveryLedgerTest, AcknowledgedResultsLeaveTheLedger) {
  DeliveryLedger ledger(100);
  ledger.OnDelivered(0, 0, 10);
  ledger.OnDelivered(1, 10, 10);
  ledger.OnDelivered(2, 20, 10);
  ASSERT_TRUE(ledger.Acknowledge(Runs({{0, 20}}), 7).ok());
  EXPECT_EQ(ledger.unacknowledged(), 1u);
  EXPECT_EQ(ledger.acknowledged().Runs(), (std::vector<ItemRuns::Run>{{0, 20}}));
  EXPECT_EQ(ledger.acknowledged_count(), 7u);
  // Acknowledging again is harmless.
  ASSERT_TRUE(ledger.Acknowledge(Runs({{5, 5}}), 0).ok());
  EXPECT_EQ(ledger.acknowledged().size(), 20u);
}

TEST(DeliveryLedgerTest, ItemsNeverDeliveredCannotBeAcknowledged) {
  DeliveryLedger ledger(100);
  ledger.OnDelivered(0, 0, 10);
  absl::Status status = ledger.Acknowledge(Runs({{5, 10}}), 3);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("never delivered"), absl::string_view::npos);
  EXPECT_TRUE(ledger.acknowledged().empty());
  EXPECT_EQ(ledger.acknowledged_count(), 0u);
}

TEST(DeliveryLedgerTest, AttachRecomputesWhatIsNeitherAcknowledgedNorHeld) {
  DeliveryLedger ledger(100);
  ledger.OnDelivered(0, 0, 10);
  ledger.OnDelivered(1, 10, 10);
  ledger.OnDelivered(4, 40, 10);
  ledger.OnDelivered(5, 50, 10);
  ASSERT_TRUE(ledger.Acknowledge(Runs({{0, 10}}), 0).ok());
  // The client still holds chunk 4's result; 1 and 5 were lost with the
  // connection.
  std::vector<DeliveryLedger::Lost> lost = ledger.TakeLost(Runs({{40, 10}}));
  ASSERT_EQ(lost.size(), 2u);
  EXPECT_EQ(lost[0].chunk_index, 1u);
  EXPECT_EQ(lost[0].first_item, 10u);
  EXPECT_EQ(lost[0].items, 10u);
  EXPECT_EQ(lost[1].first_item, 50u);
  EXPECT_EQ(ledger.unacknowledged(), 1u);  // chunk 4, held
  EXPECT_TRUE(ledger.TakeLost(Runs({{40, 10}})).empty());
}

TEST(DeliveryLedgerTest, PartlyAcknowledgedResultRecomputesOnlyTheRest) {
  DeliveryLedger ledger(100);
  ledger.OnDelivered(3, 30, 10);
  ASSERT_TRUE(ledger.Acknowledge(Runs({{30, 4}}), 0).ok());
  std::vector<DeliveryLedger::Lost> lost = ledger.TakeLost(ItemRuns());
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].first_item, 34u);
  EXPECT_EQ(lost[0].items, 6u);
}

TEST(DeliveryLedgerTest, ResultsDeliveredOutOfOrderAreLostInItemOrder) {
  DeliveryLedger ledger(100);
  ledger.OnDelivered(2, 20, 10);
  ledger.OnDelivered(0, 0, 10);
  ledger.OnDelivered(3, 30, 10);
  ledger.OnDelivered(1, 10, 10);
  ledger.OnDelivered(4, 10, 10);  // the same items again: replaces
  EXPECT_EQ(ledger.unacknowledged(), 4u);
  std::vector<DeliveryLedger::Lost> lost = ledger.TakeLost(Runs({{20, 10}}));
  ASSERT_EQ(lost.size(), 3u);
  EXPECT_EQ(lost[0].chunk_index, 0u);
  EXPECT_EQ(lost[1].chunk_index, 4u);
  EXPECT_EQ(lost[1].first_item, 10u);
  EXPECT_EQ(lost[2].chunk_index, 3u);
  EXPECT_EQ(ledger.unacknowledged(), 1u);  // the held one stays
}

TEST(DeliveryLedgerTest, AClientThatNeverAcknowledgesOverflowsIt) {
  DeliveryLedger ledger(3);
  for (uint64_t i = 0; i < 3; ++i) ledger.OnDelivered(i, i * 10, 10);
  EXPECT_FALSE(ledger.overflowed());
  ledger.OnDelivered(3, 30, 10);
  EXPECT_TRUE(ledger.overflowed());
  EXPECT_EQ(ledger.unacknowledged(), 0u);
  // Acknowledgements still count once overflowed (they cannot be checked).
  EXPECT_TRUE(ledger.Acknowledge(Runs({{0, 40}}), 5).ok());
  EXPECT_EQ(ledger.acknowledged_count(), 5u);
}

}  // namespace
}  // namespace tq
