// OutputFile: tq-client --output=FILE. Results are written to FILE and
// acknowledged to the broker only once written and synced: Sync() flushes
// the writer, fsyncs, and returns a mark naming the file's size then (and
// the output format, so that attach writes the same), which goes with the
// acknowledgement (Job::Acknowledge; AckResults.mark). A
// client that attaches to the job later (tq-client attach JOB --output=FILE)
// gets that mark back with the job (Job::mark) and continues the file from
// it: what the dead client wrote after its last acknowledgement is cut off
// and comes again, so the file ends up exactly as one run would have
// written it, with no duplicate line and no gap.
//
// Thread safety: used by one thread.
#ifndef TQ_CLIENT_OUTPUT_FILE_H_
#define TQ_CLIENT_OUTPUT_FILE_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/output_writer.h"

namespace tq {

class OutputFile {
 public:
  // A new job's output in `format` (--format's name): `path` created or
  // emptied.
  static absl::StatusOr<std::unique_ptr<OutputFile>> Create(
      const std::string& path, const std::string& format);
  // An attached job's output: `path` holds what the job's earlier client
  // wrote, `mark` (Job::mark; empty if it never acknowledged with one) says
  // how much of it is acknowledged. The file is cut there (a file shorter
  // than the mark is not this job's: kFailedPrecondition) and continued.
  // Without a mark it is started afresh. `format`: what is written now
  // (the mark's, see ParseMark).
  static absl::StatusOr<std::unique_ptr<OutputFile>> Continue(
      const std::string& path, absl::string_view mark,
      const std::string& format);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  FILE* file() const { return file_; }
  // Pushes what `writer` holds of complete items out, syncs the file, and
  // returns the mark to acknowledge with. kDataLoss naming the file if a
  // write or the sync failed.
  absl::StatusOr<std::string> Sync(OutputWriter& writer);

  // The mark for a file of `bytes` bytes in `format`, and back (false if
  // `mark` is not one of ours).
  static std::string MarkFor(uint64_t bytes, const std::string& format);
  static bool ParseMark(absl::string_view mark, uint64_t* bytes,
                        std::string* format);

 private:
  OutputFile(std::string path, FILE* file, std::string format)
      : path_(std::move(path)), file_(file), format_(std::move(format)) {}

  const std::string path_;
  FILE* const file_;
  const std::string format_;
};

}  // namespace tq

#endif  // TQ_CLIENT_OUTPUT_FILE_H_
