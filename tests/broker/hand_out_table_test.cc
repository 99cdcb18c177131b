// HandOutTable (broker/lease_deadlines.h): tickets of hand-outs, open until
// closed, settled once started or asked back, and never matching again
// once their slot is reused.
#include "broker/lease_deadlines.h"

#include "gtest/gtest.h"

namespace tq {
namespace {

TEST(HandOutTableTest, ATicketIsOutUntilClosed) {
  HandOutTable table;
  const HandOutTicket a = table.Open();
  const HandOutTicket b = table.Open();
  EXPECT_TRUE(table.IsOut(a));
  EXPECT_TRUE(table.IsOut(b));
  EXPECT_EQ(table.open(), 2u);
  table.Close(a);
  EXPECT_FALSE(table.IsOut(a));
  EXPECT_TRUE(table.IsOut(b));
  EXPECT_EQ(table.open(), 1u);
  table.Close(a);  // once only: a second close changes nothing
  EXPECT_EQ(table.open(), 1u);
  EXPECT_TRUE(table.IsOut(b));
}

TEST(HandOutTableTest, AReusedSlotDoesNotReviveAStaleTicket) {
  HandOutTable table;
  const HandOutTicket old = table.Open();
  table.Close(old);
  const HandOutTicket reused = table.Open();
  EXPECT_EQ(reused.slot, old.slot);
  EXPECT_TRUE(table.IsOut(reused));
  EXPECT_FALSE(table.IsOut(old));
  table.Close(old);  // stale: must not close the new hand-out
  EXPECT_TRUE(table.IsOut(reused));
  EXPECT_FALSE(table.IsOut(HandOutTicket{}));
}

TEST(HandOutTableTest, SettledUntilTheSlotIsReused) {
  HandOutTable table;
  const HandOutTicket a = table.Open();
  EXPECT_TRUE(table.IsOutUnsettled(a));
  table.Settle(a);
  EXPECT_TRUE(table.IsSettled(a));
  EXPECT_FALSE(table.IsOutUnsettled(a));
  table.Close(a);
  EXPECT_FALSE(table.IsSettled(a));
  table.Settle(a);  // stale: ignored
  const HandOutTicket b = table.Open();
  EXPECT_TRUE(table.IsOutUnsettled(b));
}

}  // namespace
}  // namespace tq
