#include "client/number_parse.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tq {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Long words are shortened in messages: a 1 MB token should not flood stderr.
std::string Quote(absl::string_view text) {
  if (text.size() > 40) return absl::StrCat("'", text.substr(0, 40), "...'");
  return absl::StrCat("'", text, "'");
}

}  // namespace

absl::StatusOr<uint64_t> ParseNumber(absl::string_view text) {
  if (text.size() > 1 && text[0] == '-') {
    bool digits = true;
    for (char c : text.substr(1)) digits = digits && IsDigit(c);
    if (digits) {
      return absl::InvalidArgumentError(
          absl::StrCat("negative numbers are not allowed: ", Quote(text)));
    }
  }
  if (text.empty()) {
    return absl::InvalidArgumentError("'' is not a number");
  }
  uint64_t value = 0;
  bool overflow = false;
  for (char c : text) {
    if (!IsDigit(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(text), " is not a number"));
    }
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) overflow = true;
    value = value * 10 + digit;
  }
  if (overflow) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " exceeds 2^64-1"));
  }
  return value;
}

absl::StatusOr<std::vector<uint64_t>> ParseNumberList(absl::string_view text,
                                                      absl::string_view source) {
  std::vector<uint64_t> numbers;
  size_t line = 1;
  size_t i = 0;
  while (i < text.size()) {
    if (IsSpace(text[i])) {
      if (text[i] == '\n') ++line;
      ++i;
      continue;
    }
    size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    absl::StatusOr<uint64_t> number = ParseNumber(text.substr(start, i - start));
    if (!number.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line, ": ", number.status().message()));
    }
    numbers.push_back(*number);
  }
  if (numbers.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " contains no numbers"));
  }
  return numbers;
}

NumberReader::NumberReader(FILE* file, std::string source)
    : file_(file), source_(std::move(source)) {}

absl::StatusOr<bool> NumberReader::Fill() {
  if (eof_) return false;
  constexpr size_t kBlock = 1 << 16;
  buffer_.erase(0, pos_);
  pos_ = 0;
  const size_t kept = buffer_.size();
  buffer_.resize(kept + kBlock);
  const size_t n = fread(buffer_.data() + kept, 1, kBlock, file_);
  buffer_.resize(kept + n);
  if (n == 0) {
    if (ferror(file_)) {
      return absl::InvalidArgumentError(
          absl::StrCat("error reading ", source_, ": ", strerror(errno)));
    }
    eof_ = true;
    return false;
  }
  return true;
}

absl::StatusOr<size_t> NumberReader::Read(size_t max,
                                          std::vector<uint64_t>* out) {
  size_t appended = 0;
  while (appended < max) {
    // Skip whitespace, refilling as needed.
    while (true) {
      while (pos_ < buffer_.size() && IsSpace(buffer_[pos_])) {
        if (buffer_[pos_] == '\n') ++line_;
        ++pos_;
      }
      if (pos_ < buffer_.size()) break;
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) {
        if (count_ == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(source_, " contains no numbers"));
        }
        return appended;
      }
    }
    // A token, possibly across a refill. No number has more than 20
    // characters: a longer token is an error, however long it goes on.
    constexpr size_t kLongestToken = 64;
    size_t end = pos_;
    while (true) {
      while (end < buffer_.size() && !IsSpace(buffer_[end]) &&
             end - pos_ <= kLongestToken) {
        ++end;
      }
      if (end < buffer_.size() || eof_) break;
      const size_t offset = end - pos_;
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      end = pos_ + offset;
      if (!*more) break;
    }
    // Only the first kLongestToken+1 characters were kept: parsing them
    // would read "000...0005" (zeros past the cut) as 0 and then 5.
    absl::StatusOr<uint64_t> number =
        end - pos_ > kLongestToken
            ? absl::InvalidArgumentError(absl::StrCat(
                  Quote(absl::string_view(buffer_).substr(pos_, end - pos_)),
                  " is too long to be a number"))
            : ParseNumber(absl::string_view(buffer_).substr(pos_, end - pos_));
    if (!number.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_, ":", line_, ": ", number.status().message()));
    }
    out->push_back(*number);
    ++appended;
    ++count_;
    pos_ = end;
  }
  return appended;
}

}  // namespace tq
