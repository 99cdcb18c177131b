#include "broker/journal_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace tq {
namespace {

constexpr absl::string_view kSegmentPrefix = "journal.";
constexpr absl::string_view kTmpSuffix = ".tmp";

absl::Status CheckRecordLimits(uint8_t type, size_t payload_bytes) {
  if (type == 0) {
    return absl::InvalidArgumentError("journal record type 0 is reserved");
  }
  if (payload_bytes > kMaxJournalPayloadBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("journal record of ", payload_bytes,
                     " bytes exceeds the limit of ", kMaxJournalPayloadBytes));
  }
  return absl::OkStatus();
}

std::string SegmentPath(const std::string& dir, uint64_t generation) {
  return absl::StrCat(dir, "/", kSegmentPrefix, generation);
}

// "journal.<G>" or "journal.<G>.tmp", G a decimal >= 1 without leading
// zeros. Anything else is not ours.
bool ParseSegmentName(absl::string_view name, uint64_t* generation,
                      bool* tmp) {
  if (!absl::ConsumePrefix(&name, kSegmentPrefix)) return false;
  *tmp = absl::ConsumeSuffix(&name, kTmpSuffix);
  if (name.empty() || name.size() > 20 || name[0] == '0') return false;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(name, generation);
}

struct SegmentListing {
  uint64_t active = 0;             // highest complete generation; 0: none
  std::vector<std::string> stale;  // full paths
};

absl::StatusOr<SegmentListing> ListSegments(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot open journal directory ", dir));
  }
  std::vector<uint64_t> complete;
  std::vector<std::string> tmp;
  for (;;) {
    errno = 0;
    const dirent* entry = readdir(d);
    if (entry == nullptr) break;
    uint64_t generation = 0;
    bool is_tmp = false;
    if (!ParseSegmentName(entry->d_name, &generation, &is_tmp)) continue;
    if (is_tmp) {
      tmp.push_back(absl::StrCat(dir, "/", entry->d_name));
    } else {
      complete.push_back(generation);
    }
  }
  const int read_error = errno;
  closedir(d);
  if (read_error != 0) {
    return absl::ErrnoToStatus(
        read_error, absl::StrCat("cannot list journal directory ", dir));
  }
  SegmentListing listing;
  std::sort(complete.begin(), complete.end());
  if (!complete.empty()) {
    listing.active = complete.back();
    complete.pop_back();
  }
  for (uint64_t generation : complete) {
    listing.stale.push_back(SegmentPath(dir, generation));
  }
  std::sort(tmp.begin(), tmp.end());
  listing.stale.insert(listing.stale.end(), tmp.begin(), tmp.end());
  return listing;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  }
  std::string bytes;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    bytes.reserve(static_cast<size_t>(st.st_size));
  }
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return absl::ErrnoToStatus(err, absl::StrCat("cannot read ", path));
    }
    if (n == 0) break;
    bytes.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  return bytes;
}

// Writes all of `data` at `offset`, retrying short writes and EINTR.
absl::Status WriteAll(int fd, absl::string_view data, uint64_t offset,
                      const std::string& path) {
  while (!data.empty()) {
    const ssize_t n =
        pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<JournalContents> ReadJournal(const std::string& dir) {
  TQ_ASSIGN_OR_RETURN(SegmentListing listing, ListSegments(dir));
  if (listing.active == 0) {
    JournalContents empty;
    empty.stale_files = std::move(listing.stale);
    return empty;
  }
  const std::string path = SegmentPath(dir, listing.active);
  TQ_ASSIGN_OR_RETURN(const std::string bytes, ReadWholeFile(path));
  absl::StatusOr<JournalContents> contents = ParseJournalSegment(bytes);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(),
                        absl::StrCat(path, ": ", contents.status().message()));
  }
  if (contents->generation != listing.active) {
    return absl::DataLossError(
        absl::StrCat(path, ": header says generation ", contents->generation,
                     ", the file name ", listing.active));
  }
  contents->path = path;
  contents->stale_files = std::move(listing.stale);
  return contents;
}

// --- JournalWriter ---

JournalWriter::JournalWriter(std::string dir, const JournalOptions& options,
                             int dir_fd)
    : dir_(std::move(dir)),
      options_(options),
      dir_fd_(dir_fd),
      epoch_(options.epoch) {}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) {
    if (error_.ok()) (void)WriteBuffer();
    close(fd_);
  }
  close(dir_fd_);  // releases the flock
}

absl::StatusOr<std::unique_ptr<JournalWriter>> JournalWriter::Open(
    const std::string& dir, const JournalOptions& options,
    JournalContents* recovered) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot create journal directory ", dir));
  }
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot open journal directory ", dir));
  }
  if (flock(dir_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(dir_fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "journal directory ", dir, " is in use by another writer"));
    }
    return absl::ErrnoToStatus(
        err, absl::StrCat("cannot lock journal directory ", dir));
  }
  // From here the writer owns dir_fd (and fd_ once set): early returns
  // close them.
  std::unique_ptr<JournalWriter> writer(
      new JournalWriter(dir, options, dir_fd));
  // Read under the lock, so no other writer changes it meanwhile.
  TQ_ASSIGN_OR_RETURN(JournalContents contents, ReadJournal(dir));

  if (!contents.stale_files.empty()) {
    // Only older generations and .tmp files: never the active segment.
    for (const std::string& path : contents.stale_files) {
      if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        return absl::ErrnoToStatus(
            errno, absl::StrCat("cannot delete stale journal file ", path));
      }
    }
    TQ_RETURN_IF_ERROR(writer->SyncDir());
  }

  if (contents.generation == 0) {
    uint64_t segment_bytes = 0;
    TQ_ASSIGN_OR_RETURN(writer->fd_,
                        writer->CreateSegment(1, {}, &segment_bytes));
    writer->generation_ = 1;
    writer->path_ = SegmentPath(dir, 1);
    writer->file_bytes_ = segment_bytes;
    TQ_RETURN_IF_ERROR(writer->SyncDir());
  } else {
    writer->fd_ = open(contents.path.c_str(), O_WRONLY | O_CLOEXEC);
    if (writer->fd_ < 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("cannot open ", contents.path, " for writing"));
    }
    writer->generation_ = contents.generation;
    writer->path_ = contents.path;
    writer->file_bytes_ = contents.valid_bytes;
    if (!contents.tail.clean()) {
      // The caller has the report (in *recovered); appends must follow the
      // last intact record, or they would be unreachable behind the damage.
      if (ftruncate(writer->fd_, static_cast<off_t>(contents.valid_bytes)) !=
              0 ||
          fdatasync(writer->fd_) != 0) {
        return absl::ErrnoToStatus(
            errno, absl::StrCat("cannot truncate the damaged tail of ",
                                contents.path));
      }
      ++writer->syncs_;
    }
  }
  if (recovered != nullptr) *recovered = std::move(contents);
  return writer;
}

absl::Status JournalWriter::Append(uint8_t type, absl::string_view payload) {
  TQ_RETURN_IF_ERROR(CheckRecordLimits(type, payload.size()));
  if (!error_.ok()) return error_;
  AppendJournalRecord(type, payload, &buffer_);
  if (options_.sync_policy == JournalSyncPolicy::kEveryAppend) return Sync();
  if (buffer_.size() >= options_.buffer_bytes) return WriteBuffer();
  return absl::OkStatus();
}

absl::Status JournalWriter::Flush() {
  if (!error_.ok()) return error_;
  return WriteBuffer();
}

absl::Status JournalWriter::Sync() {
  TQ_RETURN_IF_ERROR(Flush());
  if (options_.sync_policy == JournalSyncPolicy::kNever || !unsynced_) {
    return absl::OkStatus();
  }
  if (fdatasync(fd_) != 0) {
    error_ = absl::ErrnoToStatus(errno, absl::StrCat("cannot sync ", path_));
    return error_;
  }
  ++syncs_;
  unsynced_ = false;
  return absl::OkStatus();
}

absl::Status JournalWriter::WriteBuffer() {
  if (buffer_.empty()) return absl::OkStatus();
  absl::Status written = WriteAll(fd_, buffer_, file_bytes_, path_);
  if (!written.ok()) {
    error_ = written;  // the file may now end in part of a record
    return error_;
  }
  file_bytes_ += buffer_.size();
  bytes_written_ += buffer_.size();
  unsynced_ = true;
  if (buffer_.capacity() > 4 * options_.buffer_bytes) {
    std::string().swap(buffer_);  // do not keep a huge record's memory
  } else {
    buffer_.clear();
  }
  return absl::OkStatus();
}

absl::Status JournalWriter::SyncDir() {
  if (fsync(dir_fd_) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot sync journal directory ", dir_));
  }
  ++syncs_;
  return absl::OkStatus();
}

absl::StatusOr<int> JournalWriter::CreateSegment(
    uint64_t generation, absl::Span<const JournalRecord> records,
    uint64_t* segment_bytes) {
  const std::string path = SegmentPath(dir_, generation);
  const std::string tmp_path = absl::StrCat(path, kTmpSuffix);
  const int fd =
      open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot create ", tmp_path));
  }
  auto fail = [&](absl::Status status) {
    close(fd);
    unlink(tmp_path.c_str());
    return status;
  };
  std::string chunk = EncodeJournalHeader(generation, epoch_);
  uint64_t offset = 0;
  auto write_chunk = [&]() {
    absl::Status written = WriteAll(fd, chunk, offset, tmp_path);
    offset += chunk.size();
    bytes_written_ += chunk.size();
    chunk.clear();
    return written;
  };
  for (const JournalRecord& record : records) {
    AppendJournalRecord(record.type, record.payload, &chunk);
    if (chunk.size() >= options_.buffer_bytes) {
      if (absl::Status s = write_chunk(); !s.ok()) return fail(s);
    }
  }
  if (absl::Status s = write_chunk(); !s.ok()) return fail(s);
  // fsync, not fdatasync: the new file's size and existence must be on disk
  // before its name is, whatever the file system.
  if (fsync(fd) != 0) {
    return fail(
        absl::ErrnoToStatus(errno, absl::StrCat("cannot sync ", tmp_path)));
  }
  ++syncs_;
  if (rename(tmp_path.c_str(), path.c_str()) != 0) {
    return fail(absl::ErrnoToStatus(
        errno, absl::StrCat("cannot rename ", tmp_path, " to ", path)));
  }
  *segment_bytes = offset;
  return fd;
}

absl::Status JournalWriter::Rewrite(absl::Span<const JournalRecord> records) {
  for (const JournalRecord& record : records) {
    TQ_RETURN_IF_ERROR(CheckRecordLimits(record.type, record.payload.size()));
  }
  uint64_t segment_bytes = 0;
  TQ_ASSIGN_OR_RETURN(const int fd,
                      CreateSegment(generation_ + 1, records, &segment_bytes));
  // The new segment is complete and named: readers take it from now on.
  const std::string old_path = path_;
  close(fd_);
  fd_ = fd;
  ++generation_;
  path_ = SegmentPath(dir_, generation_);
  file_bytes_ = segment_bytes;
  buffer_.clear();
  unsynced_ = false;
  error_ = absl::OkStatus();
  if (absl::Status synced = SyncDir(); !synced.ok()) {
    // After a crash the rename may be undone and the old segment be the
    // journal again: keep it, and fail appends until the next Rewrite.
    error_ = synced;
    return error_;
  }
  if (unlink(old_path.c_str()) != 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("compacted into ", path_, ", but cannot delete ",
                            old_path));
  }
  return SyncDir();
}

}  // namespace tq
