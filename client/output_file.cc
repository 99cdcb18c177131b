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

// "tq-client output bytes=1234 format=true"
constexpr absl::string_view kMarkPrefix = "tq-client output bytes=";
constexpr absl::string_view kFormatKey = " format=";

absl::Status FileError(absl::string_view what, const std::string& path) {
  return absl::DataLossError(
      absl::StrCat("cannot ", what, " --output '", path, "': ", strerror(errno)));
}

}  // namespace

std::string OutputFile::MarkFor(uint64_t bytes, const std::string& format) {
  return absl::StrCat(kMarkPrefix, bytes, kFormatKey, format);
}

bool OutputFile::ParseMark(absl::string_view mark, uint64_t* bytes,
                           std::string* format) {
  if (!absl::ConsumePrefix(&mark, kMarkPrefix)) return false;
  const size_t at = mark.find(kFormatKey);
  if (at == absl::string_view::npos) return false;
  *format = std::string(mark.substr(at + kFormatKey.size()));
  return absl::SimpleAtoi(mark.substr(0, at), bytes) && !format->empty();
}

absl::StatusOr<std::unique_ptr<OutputFile>> OutputFile::Create(
    const std::string& path, const std::string& format) {
  FILE* file = fopen(path.c_str(), "wb");
  if (file == nullptr) return FileError("create", path);
  return std::unique_ptr<OutputFile>(new OutputFile(path, file, format));
}

absl::StatusOr<std::unique_ptr<OutputFile>> OutputFile::Continue(
    const std::string& path, absl::string_view mark,
    const std::string& format) {
  if (mark.empty()) return Create(path, format);
  uint64_t bytes = 0;
  std::string ignored;
  if (!ParseMark(mark, &bytes, &ignored)) {
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
  return std::unique_ptr<OutputFile>(new OutputFile(path, file, format));
}

OutputFile::~OutputFile() { fclose(file_); }

absl::StatusOr<std::string> OutputFile::Sync(OutputWriter& writer) {
  TQ_RETURN_IF_ERROR(writer.Flush());
  if (fflush(file_) != 0 || fsync(fileno(file_)) != 0) {
    return FileError("sync", path_);
  }
  const off_t size = lseek(fileno(file_), 0, SEEK_END);
  if (size < 0) return FileError("sync", path_);
  return MarkFor(static_cast<uint64_t>(size), format_);
}

}  // namespace tq
