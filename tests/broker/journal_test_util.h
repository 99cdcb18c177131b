// Shared by the journal tests: a fresh temporary directory per test (removed
// afterwards), whole-file helpers, and records of varied sizes and bytes.
#ifndef TQ_TESTS_BROKER_JOURNAL_TEST_UTIL_H_
#define TQ_TESTS_BROKER_JOURNAL_TEST_UTIL_H_

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "broker/journal_file.h"
#include "gtest/gtest.h"

namespace tq {

// For gtest's messages: "{type 3, 8 bytes "buffered"}".
inline void PrintTo(const JournalRecord& record, std::ostream* os) {
  *os << "{type " << int{record.type} << ", " << record.payload.size()
      << " bytes";
  if (record.payload.size() <= 32) {
    *os << " " << ::testing::PrintToString(record.payload);
  }
  *os << "}";
}

namespace testing {

class JournalDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "tq_journal_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << pattern;
    root_ = pattern;
    dir_ = root_ + "/journal";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  // A journal directory of its own under this test's root (for loops).
  std::string SubDir(const std::string& name) const {
    return root_ + "/" + name;
  }

  std::string root_;
  std::string dir_;  // not created: JournalWriter::Open creates it
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

inline uint64_t FileSize(const std::string& path) {
  return std::filesystem::file_size(path);
}

// Record i: type 1..255, payload of 0..299 bytes covering all byte values.
inline JournalRecord TestRecord(int i) {
  JournalRecord record;
  record.type = static_cast<uint8_t>(1 + i % 255);
  const int size = (i * 37) % 300;
  for (int j = 0; j < size; ++j) {
    record.payload.push_back(static_cast<char>(i + j * 7));
  }
  return record;
}

inline std::vector<JournalRecord> TestRecords(int first, int count) {
  std::vector<JournalRecord> records;
  for (int i = first; i < first + count; ++i) records.push_back(TestRecord(i));
  return records;
}

inline uint64_t EncodedSize(const JournalRecord& record) {
  return kJournalRecordHeaderBytes + record.payload.size();
}

}  // namespace testing
}  // namespace tq

#endif  // TQ_TESTS_BROKER_JOURNAL_TEST_UTIL_H_
