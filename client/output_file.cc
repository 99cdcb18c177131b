#include "client/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tq {
namespace {

constexpr absl::string_view kMarkPrefix = "tq-client output bytes=";

absl::Status FileError(absl::string_view what, const std::string& path) {
  return absl::DataLossError(
      absl::StrCat("cannot ", what, " --output '", path, "': ", strerror(errno)));
}

}  // namespace

std::string OutputFile::MarkFor(uint64_t bytes) {
  return absl::StrCat(kMarkPrefix, bytes);
}

bool OutputFile::ParseMark(absl::string_view mark, uint64_t* bytes) {
  return absl::ConsumePrefix(&mark, kMarkPrefix) &&
         absl::SimpleAtoi(mark, bytes);
}

absl::StatusOr<std::unique_ptr<OutputFile>> OutputFile::Create(
    const std::string& path) {
  FILE* file = fopen(path.c_str(), "wb");
  if (file == nullptr) return FileError("create", path);
  return std::unique_ptr<OutputFile>(new OutputFile(path, file));
}

absl::StatusOr<std::unique_ptr<OutputFile>> OutputFile::Continue(
    const std::string& path, absl::string_view mark) {
  if (mark.empty()) return Create(path);
  uint64_t bytes = 0;
  if (!ParseMark(mark, &bytes)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the job's client acknowledged its output with a mark tq-client does "
        "not know ('", absl::CHexEscape(mark.substr(0, 64)),
        "'): it was not written by tq-client --output"));
  }
  const int fd = open(path.c_str(), O_RDWR);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open --output '", path, "' to continue it: ", strerror(errno),
        " (the job's earlier client had written ", bytes, " bytes of it)"));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) < bytes) {
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "--output '", path, "' holds ", size,
        " bytes, but the job's earlier client had written and synced ", bytes,
        ": it is not that client's file"));
  }
  // What was written after the last acknowledgement comes again.
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0 ||
      lseek(fd, 0, SEEK_END) < 0 || fsync(fd) != 0) {
    close(fd);
    return FileError("cut", path);
  }
  FILE* file = fdopen(fd, "ab");
  if (file == nullptr) {
    close(fd);
    return FileError("open", path);
  }
  return std::unique_ptr<OutputFile>(new OutputFile(path, file));
}

OutputFile::~OutputFile() { fclose(file_); }

absl::StatusOr<std::string> OutputFile::Sync(OutputWriter& writer) {
  TQ_RETURN_IF_ERROR(writer.Flush());
  if (fflush(file_) != 0 || fsync(fileno(file_)) != 0) {
    return FileError("sync", path_);
  }
  const off_t size = lseek(fileno(file_), 0, SEEK_END);
  if (size < 0) return FileError("sync", path_);
  return MarkFor(static_cast<uint64_t>(size));
}

}  // namespace tq
