// Output writers for tq-client: turn chunk results into tsv, JSON Lines, the
// true items, a count, or a packed bitmap. Output goes through a 128 KiB
// buffer with large fwrite calls, so 10^8 lines stay fast, and is streamed:
// memory is bounded by one chunk, however large the job.
//
// Thread safety: a writer is used by one thread.
#ifndef TQ_CLIENT_OUTPUT_WRITER_H_
#define TQ_CLIENT_OUTPUT_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/chunk_result.h"

namespace tq {

enum class OutputFormat { kTsv, kJson, kTrue, kCount, kBitmap };

// "tsv" | "json" | "true" | "count" | "bitmap"; anything else is
// kInvalidArgument listing the formats.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name);

// Formats that only make sense for yes/no (kBool) tasks.
bool NeedsBoolTask(OutputFormat format);

// An output buffer over a FILE*, written with fwrite when full. 128 KiB:
// large writes, and few pages to fault in (with 1 MiB, the page faults of
// map primes 1 100000's 1.2 MB of lines cost ~0.4 ms of its ~6).
class BufferedOutput {
 public:
  explicit BufferedOutput(FILE* file, size_t capacity = 128 << 10);
  ~BufferedOutput();  // flushes; errors are lost: call Flush() to see them

  void Append(absl::string_view bytes);
  void AppendChar(char c) {
    if (used_ == capacity_) Drain();
    buffer_[used_++] = c;
  }
  void AppendNumber(uint64_t value);
  // Room for `n` more bytes (n <= capacity), written in place: the caller
  // writes up to n bytes at the pointer, then Commit()s how many it wrote.
  char* Reserve(size_t n) {
    if (capacity_ - used_ < n) Drain();
    return buffer_.get() + used_;
  }
  void Commit(size_t n) { used_ += n; }
  // Writes everything buffered and fflush()es; kDataLoss if a write failed.
  absl::Status Flush();

 private:
  void Drain();

  FILE* const file_;
  // Not zeroed: a small job's output touches only the pages it fills.
  std::unique_ptr<char[]> buffer_;
  const size_t capacity_;
  size_t used_ = 0;
  bool failed_ = false;
};

class OutputWriter {
 public:
  virtual ~OutputWriter() = default;
  // Writes one chunk's items (chunks must come in the order to print).
  // kInvalidArgument if the chunk's kind does not fit the format.
  virtual absl::Status Write(const ChunkResult& chunk) = 0;
  // Pushes the complete items written so far out to the file, so a slow
  // job's output streams; a count or a partial bitmap byte stays pending.
  virtual absl::Status Flush() = 0;
  // Writes what is pending (the count line, a partial bitmap byte), flushes.
  // With complete == false (the job failed or was interrupted) the items
  // already written are flushed but a total is not: a partial count would
  // look like an answer.
  virtual absl::Status Finish(bool complete) = 0;
  // Whether failed items (ChunkResult::Kind::kFailed, --skip-failed) show
  // in the output itself: tsv `N<TAB>error: CAUSE`, json
  // {"n":N,"error":"CAUSE"}. The other formats leave them out (true, count)
  // or as 0 bits (bitmap), and the caller names them on stderr.
  virtual bool ShowsFailures() const { return false; }
};

// `count_before`: kCount only, true items counted before (an attached job's
// acknowledged count), added to the total printed.
std::unique_ptr<OutputWriter> MakeOutputWriter(OutputFormat format, FILE* file,
                                               uint64_t count_before = 0);

}  // namespace tq

#endif  // TQ_CLIENT_OUTPUT_WRITER_H_
