// OutputFile (tq-client --output): synced marks, and continuing a dead
// client's file from the mark of its last acknowledgement.
#include "client/output_file.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "client/chunk_result.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/chunk_test_util.h"

namespace tq {
namespace {

using ::testing::HasSubstr;

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/tq-output-file-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/out.txt";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  std::string Read() const {
    std::ifstream in(path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  void Write(const std::string& text) const { std::ofstream(path_) << text; }

  std::string dir_;
  std::string path_;
};

TEST_F(OutputFileTest, SyncFlushesTheWriterAndMarksTheSize) {
  auto file = OutputFile::Create(path_, "true");
  ASSERT_TRUE(file.ok()) << file.status();
  std::unique_ptr<OutputWriter> writer =
      MakeOutputWriter(OutputFormat::kTrue, (*file)->file());
  v1::ChunkOutput output;
  output.set_bits(std::string("\xAC\x00", 2));  // 2, 3, 5, 7 of 0..9
  ASSERT_TRUE(writer->Write(*DecodeChunk(Range(0, 9), 10, 0, output)).ok());
  absl::StatusOr<std::string> mark = (*file)->Sync(*writer);
  ASSERT_TRUE(mark.ok()) << mark.status();
  EXPECT_EQ(Read(), "2\n3\n5\n7\n");
  uint64_t bytes = 0;
  std::string format;
  ASSERT_TRUE(OutputFile::ParseMark(*mark, &bytes, &format));
  EXPECT_EQ(bytes, 8u);
  EXPECT_EQ(format, "true");
}

TEST_F(OutputFileTest, ContinueCutsWhatCameAfterTheMark) {
  Write("2\n3\n5\n7\n11\n1");  // "11\n1": written, never acknowledged
  auto file = OutputFile::Continue(path_, OutputFile::MarkFor(8, "true"), "true");
  ASSERT_TRUE(file.ok()) << file.status();
  fputs("11\n13\n", (*file)->file());
  file->reset();
  EXPECT_EQ(Read(), "2\n3\n5\n7\n11\n13\n");
}

TEST_F(OutputFileTest, NoMarkStartsAfresh) {
  Write("stale\n");
  auto file = OutputFile::Continue(path_, "", "tsv");
  ASSERT_TRUE(file.ok()) << file.status();
  file->reset();
  EXPECT_EQ(Read(), "");
}

TEST_F(OutputFileTest, AFileShorterThanTheMarkOrAStrangeMarkIsRefused) {
  Write("2\n");
  auto shorter = OutputFile::Continue(path_, OutputFile::MarkFor(8, "true"), "true");
  EXPECT_EQ(shorter.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(shorter.status().message(), HasSubstr("holds 2 bytes"));
  EXPECT_EQ(Read(), "2\n");  // untouched
  auto strange = OutputFile::Continue(path_, "offset 8", "true");
  EXPECT_EQ(strange.status().code(), absl::StatusCode::kFailedPrecondition);
  auto missing =
      OutputFile::Continue(dir_ + "/none", OutputFile::MarkFor(8, "true"), "true");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tq
