// Journal streaming between a standby pair's brokers (broker/
// journal_stream.h): snapshots, numbering, gaps, and what waits for the
// passive's acknowledgement.
#include "broker/journal_stream.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tq {
namespace {

std::vector<JournalRecord> Records(int n, const std::string& tag,
                                   size_t bytes = 8) {
  std::vector<JournalRecord> records;
  for (int i = 0; i < n; ++i) {
    records.push_back({static_cast<uint8_t>(1 + i % 4),
                       tag + std::to_string(i) + std::string(bytes, 'x')});
  }
  return records;
}

// Feeds `messages` to `receiver`; returns the last action.
JournalStreamReceiver::Action Feed(JournalStreamReceiver& receiver,
                                   std::vector<v1::PairRecords> messages) {
  JournalStreamReceiver::Action action = JournalStreamReceiver::Action::kNone;
  for (v1::PairRecords& message : messages) {
    action = receiver.OnRecords(std::move(message));
  }
  return action;
}

TEST(JournalStreamTest, ASnapshotThenRecordsReachThePassiveInOrder) {
  JournalStreamSender sender;
  JournalStreamReceiver receiver;
  EXPECT_TRUE(sender.Append(Records(2, "early"), true).empty())
      << "nothing is sent while no passive follows";
  EXPECT_EQ(sender.required_seq(), 0u);

  const std::vector<JournalRecord> live = Records(3, "live");
  ASSERT_EQ(Feed(receiver, sender.Start(77, live)),
            JournalStreamReceiver::Action::kReplace);
  EXPECT_EQ(receiver.TakeRecords(), live);
  EXPECT_EQ(receiver.stream(), 77u);
  EXPECT_EQ(receiver.seq(), 3u);

  const std::vector<JournalRecord> more = Records(2, "more");
  ASSERT_EQ(Feed(receiver, sender.Append(more, false)),
            JournalStreamReceiver::Action::kAppend);
  EXPECT_EQ(receiver.TakeRecords(), more);
  EXPECT_EQ(receiver.seq(), 5u);
}

TEST(JournalStreamTest, ALargeSnapshotComesInPartsAndIsAppliedWhole) {
  JournalStreamSender sender;
  JournalStreamReceiver receiver;
  // 12 records of 1 MiB: three messages of at most kPairBatchBytes.
  const std::vector<JournalRecord> live = Records(12, "big", 1 << 20);
  std::vector<v1::PairRecords> parts = sender.Start(5, live);
  ASSERT_GE(parts.size(), 3u);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    EXPECT_EQ(receiver.OnRecords(parts[i]),
              JournalStreamReceiver::Action::kNone);
    EXPECT_EQ(receiver.snapshot_stream(), 5u);
  }
  EXPECT_EQ(receiver.OnRecords(parts.back()),
            JournalStreamReceiver::Action::kReplace);
  EXPECT_EQ(receiver.TakeRecords(), live);
}

TEST(JournalStreamTest, AGapOrAnotherStreamAsksForASnapshot) {
  JournalStreamSender sender;
  JournalStreamReceiver receiver;
  Feed(receiver, sender.Start(9, Records(1, "a")));
  receiver.TakeRecords();
  std::vector<v1::PairRecords> lost = sender.Append(Records(1, "lost"), false);
  std::vector<v1::PairRecords> next = sender.Append(Records(1, "next"), false);
  EXPECT_EQ(Feed(receiver, next), JournalStreamReceiver::Action::kResync);

  JournalStreamReceiver fresh;
  EXPECT_EQ(Feed(fresh, sender.Append(Records(1, "x"), false)),
            JournalStreamReceiver::Action::kResync)
      << "records without a snapshot first";

  v1::PairRecords bad;
  bad.set_stream(9);
  bad.set_first_seq(1);
  bad.set_snapshot(true);
  bad.set_snapshot_end(true);
  bad.add_records()->set_type(300);  // no journal record type
  EXPECT_EQ(fresh.OnRecords(bad), JournalStreamReceiver::Action::kResync);
}

TEST(JournalStreamTest, RequiredRecordsWaitForTheirAcknowledgement) {
  JournalStreamSender sender;
  sender.Start(3, Records(2, "live"));  // records 1-2
  EXPECT_EQ(sender.required_seq(), 2u) << "what waited is in the snapshot";
  sender.Append(Records(1, "ack-only"), false);  // record 3
  EXPECT_EQ(sender.required_seq(), 2u);
  sender.Append(Records(2, "job"), true);  // records 4-5
  EXPECT_EQ(sender.required_seq(), 5u);

  v1::PairAck ack;
  ack.set_stream(3);
  ack.set_seq(4);
  sender.OnAck(ack);
  EXPECT_EQ(sender.acked(), 4u);
  ack.set_seq(9);  // beyond what was sent: ignored
  sender.OnAck(ack);
  ack.set_stream(2);  // another stream: ignored
  ack.set_seq(5);
  sender.OnAck(ack);
  EXPECT_EQ(sender.acked(), 4u);
  ack.set_stream(3);
  sender.OnAck(ack);
  EXPECT_EQ(sender.acked(), 5u);

  sender.Stop();  // the passive is gone: nothing waits
  EXPECT_FALSE(sender.following());
  EXPECT_EQ(sender.required_seq(), 0u);
}

}  // namespace
}  // namespace tq
