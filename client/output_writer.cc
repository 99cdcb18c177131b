#include "client/output_writer.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "client/json_string.h"

namespace tq {
namespace {

absl::Status WrongKind(absl::string_view format, const ChunkResult& chunk) {
  const char* kind = "a count";
  switch (chunk.kind()) {
    case ChunkResult::Kind::kBits: kind = "true/false results"; break;
    case ChunkResult::Kind::kValues: kind = "one number per item"; break;
    case ChunkResult::Kind::kLists: kind = "a list per item"; break;
    case ChunkResult::Kind::kCount: break;
    case ChunkResult::Kind::kBytes: kind = "a code job's bytes"; break;
    case ChunkResult::Kind::kFailed: kind = "failed items"; break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--format=", format, " does not fit this task's results (", kind, ")"));
}

// The syntax of a one-line-per-item format: what surrounds n and its result.
struct ItemSyntax {
  absl::string_view format;  // the --format name, for errors
  absl::string_view before_n;
  absl::string_view after_n;
  absl::string_view list_open;
  char list_separator;
  absl::string_view list_close;
  absl::string_view line_end;
  bool json;
};

// A failure's cause on one tsv line: tabs and line breaks become spaces.
std::string OneLine(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

// tsv: `N<TAB>RESULT`, a list as space-separated numbers.
constexpr ItemSyntax kTsvSyntax = {"tsv", "", "\t", "", ' ', "", "\n", false};
// json: JSON Lines, {"n":N,"result":RESULT}, a list as a JSON array.
constexpr ItemSyntax kJsonSyntax = {"json", "{\"n\":", ",\"result\":", "[", ',',
                                    "]", "}\n", true};

// A decimal number as text, counted up in place: a range's item numbers,
// one per line, without a division per digit. The last digit is kept apart
// from the others, so the copy of the others reads bytes last written ten
// numbers ago (a copy over a byte just written would wait for the store).
class DecimalCounter {
 public:
  static constexpr size_t kMaxDigits = 20;  // 2^64 - 1
  // CopyTo writes this many bytes; the digits are a prefix of them.
  static constexpr size_t kCopyBytes = 24 + 1;

  explicit DecimalCounter(uint64_t n) : last_(static_cast<char>('0' + n % 10)) {
    char text[kMaxDigits];
    const uint64_t tens = n / 10;
    const size_t size =
        tens == 0 ? 0 : std::to_chars(text, text + kMaxDigits, tens).ptr - text;
    begin_ = kMaxTens - size;
    std::memcpy(tens_ + begin_, text, size);
  }
  // Writes the digits at `at` (and padding after them, up to kCopyBytes);
  // returns the end of the digits.
  char* CopyTo(char* at) const {
    std::memcpy(at, tens_ + begin_, kCopyBytes - 1);
    at += kMaxTens - begin_;
    *at = last_;
    return at + 1;
  }
  // n + 1. Never called past 2^64 - 1 + 1, which still has 20 digits.
  void Increment() {
    if (last_ != '9') {
      ++last_;
      return;
    }
    last_ = '0';
    for (size_t i = kMaxTens; i-- > begin_;) {
      if (tens_[i] != '9') {
        ++tens_[i];
        return;
      }
      tens_[i] = '0';
    }
    tens_[--begin_] = '1';
  }

 private:
  static constexpr size_t kMaxTens = kMaxDigits - 1;
  // The digits of n / 10 (none for n < 10) end at kMaxTens; the rest pads
  // CopyTo's fixed-size read.
  char tens_[kMaxTens + kCopyBytes] = {};
  size_t begin_;
  char last_;  // n % 10
};

class PerItemWriter : public OutputWriter {
 public:
  PerItemWriter(FILE* file, const ItemSyntax& syntax)
      : out_(file),
        syntax_(syntax),
        before_(syntax.before_n),
        true_tail_(absl::StrCat(syntax.after_n, "true", syntax.line_end)),
        false_tail_(absl::StrCat(syntax.after_n, "false", syntax.line_end)) {}
  absl::Status Write(const ChunkResult& chunk) override {
    if (chunk.kind() == ChunkResult::Kind::kCount ||
        chunk.kind() == ChunkResult::Kind::kBytes) {
      return WrongKind(syntax_.format, chunk);
    }
    if (chunk.kind() == ChunkResult::Kind::kBits) {
      WriteBools(chunk);
      return absl::OkStatus();
    }
    if (chunk.failed()) {
      // `N<TAB>error: CAUSE` / {"n":N,"error":"CAUSE"}: a failed item has a
      // line of its own where its result would be.
      const std::string cause = syntax_.json ? JsonString(chunk.error())
                                             : OneLine(chunk.error());
      for (uint64_t i = 0; i < chunk.size(); ++i) {
        out_.Append(syntax_.before_n);
        out_.AppendNumber(chunk.n(i));
        out_.Append(syntax_.json ? ",\"error\":" : "\terror: ");
        out_.Append(cause);
        out_.Append(syntax_.line_end);
      }
      return absl::OkStatus();
    }
    for (uint64_t i = 0; i < chunk.size(); ++i) {
      out_.Append(syntax_.before_n);
      out_.AppendNumber(chunk.n(i));
      out_.Append(syntax_.after_n);
      switch (chunk.kind()) {
        case ChunkResult::Kind::kBits:
          out_.Append(chunk.bit(i) ? "true" : "false");
          break;
        case ChunkResult::Kind::kValues:
          out_.AppendNumber(chunk.value(i));
          break;
        case ChunkResult::Kind::kLists: {
          out_.Append(syntax_.list_open);
          bool first = true;
          for (uint64_t v : chunk.list(i)) {
            if (!first) out_.AppendChar(syntax_.list_separator);
            first = false;
            out_.AppendNumber(v);
          }
          out_.Append(syntax_.list_close);
          break;
        }
        default:
          break;
      }
      out_.Append(syntax_.line_end);
    }
    return absl::OkStatus();
  }
  absl::Status Finish(bool) override { return out_.Flush(); }

  absl::Status Flush() override { return out_.Flush(); }
  bool ShowsFailures() const override { return true; }

 private:
  // The common case (primes 1 100000 prints 100,000 such lines), written in
  // place: the number, then one of two fixed tails; the true items found by
  // NextTrue rather than tested one by one. A range's numbers are counted up
  // as text, and every piece is copied at a fixed size (the buffer has room
  // for the longest; what follows is overwritten), so a line costs a few
  // nanoseconds rather than a division per digit.
  void WriteBools(const ChunkResult& chunk) {
    uint64_t next_true = chunk.NextTrue(0);
    if (!chunk.consecutive()) {
      for (uint64_t i = 0; i < chunk.size(); ++i) {
        const bool value = i == next_true;
        if (value) next_true = chunk.NextTrue(i + 1);
        char* const line = out_.Reserve(kLongestLine);
        char* end = line + before_.size;
        std::memcpy(line, before_.bytes, sizeof before_.bytes);
        end = std::to_chars(end, end + DecimalCounter::kMaxDigits, chunk.n(i)).ptr;
        end = CopyTail(end, value);
        out_.Commit(static_cast<size_t>(end - line));
      }
      return;
    }
    DecimalCounter n(chunk.size() == 0 ? 0 : chunk.n(0));
    for (uint64_t i = 0; i < chunk.size(); ++i) {
      const bool value = i == next_true;
      if (value) next_true = chunk.NextTrue(i + 1);
      char* const line = out_.Reserve(kLongestLine);
      std::memcpy(line, before_.bytes, sizeof before_.bytes);
      char* end = n.CopyTo(line + before_.size);
      end = CopyTail(end, value);
      out_.Commit(static_cast<size_t>(end - line));
      n.Increment();
    }
  }

  // A short fixed text in a padded array, copied whole.
  struct Piece {
    explicit Piece(absl::string_view text) : size(text.size()) {
      std::memcpy(bytes, text.data(), text.size());
    }
    char bytes[32] = {};
    size_t size;
  };
  static constexpr size_t kLongestLine =
      sizeof(Piece::bytes) + DecimalCounter::kCopyBytes + sizeof(Piece::bytes);

  char* CopyTail(char* at, bool value) const {
    const Piece& tail = value ? true_tail_ : false_tail_;
    std::memcpy(at, tail.bytes, sizeof tail.bytes);
    return at + tail.size;
  }

  BufferedOutput out_;
  const ItemSyntax& syntax_;
  const Piece before_;      // before_n
  const Piece true_tail_;   // after_n, "true", line_end
  const Piece false_tail_;
};

class TrueWriter : public OutputWriter {
 public:
  explicit TrueWriter(FILE* file) : out_(file) {}
  absl::Status Write(const ChunkResult& chunk) override {
    if (chunk.failed()) return absl::OkStatus();  // neither true nor false
    if (chunk.kind() != ChunkResult::Kind::kBits) return WrongKind("true", chunk);
    for (uint64_t i = chunk.NextTrue(0); i < chunk.size();
         i = chunk.NextTrue(i + 1)) {
      out_.AppendNumber(chunk.n(i));
      out_.AppendChar('\n');
    }
    return absl::OkStatus();
  }
  absl::Status Finish(bool) override { return out_.Flush(); }

  absl::Status Flush() override { return out_.Flush(); }

 private:
  BufferedOutput out_;
};

class CountWriter : public OutputWriter {
 public:
  CountWriter(FILE* file, uint64_t count_before)
      : out_(file), total_(count_before) {}
  absl::Status Write(const ChunkResult& chunk) override {
    if (chunk.failed()) return absl::OkStatus();  // not counted as true
    if (chunk.kind() != ChunkResult::Kind::kCount &&
        chunk.kind() != ChunkResult::Kind::kBits) {
      return WrongKind("count", chunk);
    }
    total_ += chunk.count();
    return absl::OkStatus();
  }
  absl::Status Finish(bool complete) override {
    if (complete) {
      out_.AppendNumber(total_);
      out_.AppendChar('\n');
    }
    return out_.Flush();
  }

  absl::Status Flush() override { return out_.Flush(); }

 private:
  BufferedOutput out_;
  uint64_t total_;
};

// Concatenates chunks' packed bits into one stream: item i of the job is bit
// i%8 of byte i/8 however the chunks were cut. `pending_` holds the
// `pending_bits_` low bits of the byte not yet complete.
class BitmapWriter : public OutputWriter {
 public:
  explicit BitmapWriter(FILE* file) : out_(file) {}
  absl::Status Write(const ChunkResult& chunk) override {
    if (chunk.failed()) {
      // Failed items keep their place as 0 bits (stderr names them).
      constexpr uint64_t kStep = uint64_t{1} << 23;  // items per 1 MiB of zeros
      const std::string zeros((std::min(chunk.size(), kStep) + 7) / 8, '\0');
      for (uint64_t done = 0; done < chunk.size();) {
        const uint64_t n = std::min(chunk.size() - done, kStep);
        Append(absl::string_view(zeros.data(), (n + 7) / 8), n);
        done += n;
      }
      return absl::OkStatus();
    }
    if (chunk.kind() != ChunkResult::Kind::kBits) return WrongKind("bitmap", chunk);
    if (pending_bits_ != 0) {
      Append(chunk.bits(), chunk.size());
      return absl::OkStatus();
    }
    // Aligned: the bytes go through the buffer in slices, expanded from a
    // compact encoding straight into it (a 2^24-item chunk would otherwise
    // be expanded into 2 MiB of fresh memory first); a partial last byte
    // is taken back to wait for the next chunk's bits.
    const uint64_t bytes = (chunk.size() + 7) / 8;
    for (uint64_t from = 0; from < bytes;) {
      uint64_t n = std::min(bytes - from, kSliceBytes);
      char* const slice = out_.Reserve(n);
      chunk.CopyBits(from, n, slice);
      from += n;
      if (from == bytes && chunk.size() % 8 != 0) {
        pending_ = static_cast<uint8_t>(slice[--n]);
        pending_bits_ = chunk.size() % 8;
      }
      out_.Commit(n);
    }
    return absl::OkStatus();
  }
  // 120 KiB: a multiple of 15 bytes (CopyBits' whole wheel bytes), inside
  // the 128 KiB buffer.
  static constexpr uint64_t kSliceBytes = 15 << 13;

  // Appends `items` packed bits (ceil(items / 8) bytes, unused bits zero).
  void Append(absl::string_view bits, uint64_t items) {
    if (pending_bits_ == 0) {
      // Aligned: whole bytes go straight out, a partial last byte waits.
      size_t whole = items / 8;
      out_.Append(absl::string_view(bits.data(), whole));
      if (items % 8 != 0) {
        pending_ = static_cast<uint8_t>(bits[whole]);
        pending_bits_ = items % 8;
      }
      return;
    }
    for (size_t byte = 0; byte < bits.size(); ++byte) {
      uint8_t b = static_cast<uint8_t>(bits[byte]);
      unsigned valid = (byte + 1) * 8 <= items ? 8 : items % 8;
      pending_ |= static_cast<uint8_t>(b << pending_bits_);
      unsigned total = pending_bits_ + valid;
      if (total >= 8) {
        out_.AppendChar(static_cast<char>(pending_));
        pending_ = static_cast<uint8_t>(b >> (8 - pending_bits_));
        pending_bits_ = total - 8;
      } else {
        pending_bits_ = total;
      }
    }
  }
  absl::Status Finish(bool) override {
    if (pending_bits_ > 0) out_.AppendChar(static_cast<char>(pending_));
    pending_bits_ = 0;
    return out_.Flush();
  }

  absl::Status Flush() override { return out_.Flush(); }

 private:
  BufferedOutput out_;
  uint8_t pending_ = 0;
  unsigned pending_bits_ = 0;
};

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name) {
  if (name == "tsv") return OutputFormat::kTsv;
  if (name == "json") return OutputFormat::kJson;
  if (name == "true") return OutputFormat::kTrue;
  if (name == "count") return OutputFormat::kCount;
  if (name == "bitmap") return OutputFormat::kBitmap;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown --format '", name, "'; choose tsv, json, true, count or bitmap"));
}

bool NeedsBoolTask(OutputFormat format) {
  return format == OutputFormat::kTrue || format == OutputFormat::kCount ||
         format == OutputFormat::kBitmap;
}

BufferedOutput::BufferedOutput(FILE* file, size_t capacity)
    : file_(file), buffer_(new char[capacity]), capacity_(capacity) {}

BufferedOutput::~BufferedOutput() { (void)Flush(); }

void BufferedOutput::Drain() {
  if (used_ > 0 && !failed_ && fwrite(buffer_.get(), 1, used_, file_) != used_) {
    failed_ = true;
  }
  used_ = 0;
}

void BufferedOutput::Append(absl::string_view bytes) {
  if (bytes.size() >= capacity_) {
    // A whole bitmap chunk: straight to the file, not through the buffer.
    Drain();
    if (!failed_ && fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
      failed_ = true;
    }
    return;
  }
  while (!bytes.empty()) {
    if (used_ == capacity_) Drain();
    size_t n = std::min(bytes.size(), capacity_ - used_);
    memcpy(buffer_.get() + used_, bytes.data(), n);
    used_ += n;
    bytes.remove_prefix(n);
  }
}

void BufferedOutput::AppendNumber(uint64_t value) {
  if (capacity_ - used_ < 20) Drain();
  char* begin = buffer_.get() + used_;
  used_ += std::to_chars(begin, begin + 20, value).ptr - begin;
}

absl::Status BufferedOutput::Flush() {
  Drain();
  if (!failed_ && fflush(file_) != 0) failed_ = true;
  if (failed_) {
    return absl::DataLossError(
        absl::StrCat("writing the output failed: ", strerror(errno)));
  }
  return absl::OkStatus();
}

std::unique_ptr<OutputWriter> MakeOutputWriter(OutputFormat format, FILE* file,
                                               uint64_t count_before) {
  switch (format) {
    case OutputFormat::kTsv: return std::make_unique<PerItemWriter>(file, kTsvSyntax);
    case OutputFormat::kJson: return std::make_unique<PerItemWriter>(file, kJsonSyntax);
    case OutputFormat::kTrue: return std::make_unique<TrueWriter>(file);
    case OutputFormat::kCount:
      return std::make_unique<CountWriter>(file, count_before);
    case OutputFormat::kBitmap: return std::make_unique<BitmapWriter>(file);
  }
  return nullptr;
}

}  // namespace tq
