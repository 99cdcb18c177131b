#include "client/number_parse.h"

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

}  // namespace tq
