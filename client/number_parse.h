// Strict parsing of the numbers tq-client takes on its command line and in
// --input files: decimal digits only, 0..2^64-1. Errors are
// kInvalidArgument with a message naming the offending text.
#ifndef TQ_CLIENT_NUMBER_PARSE_H_
#define TQ_CLIENT_NUMBER_PARSE_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tq {

// "42" -> 42. "-5": "negative numbers are not allowed: '-5'";
// "abc", "", "+1", "1.5": "'abc' is not a number";
// "18446744073709551616": "'18446744073709551616' exceeds 2^64-1".
absl::StatusOr<uint64_t> ParseNumber(absl::string_view text);

// Numbers separated by whitespace (spaces, tabs, newlines). An error names
// `source` and the line: "input.txt:3: 'abc' is not a number". No numbers at
// all: "<source> contains no numbers".
absl::StatusOr<std::vector<uint64_t>> ParseNumberList(absl::string_view text,
                                                      absl::string_view source);

// Reads whitespace-separated numbers from a file as a stream, a bounded
// batch at a time, so a list of any length needs memory for one batch.
// Errors read as ParseNumberList's ("stdin:3: 'abc' is not a number"; a read
// error; "<source> contains no numbers" at the end of an input without any).
//
// Not thread-safe.
class NumberReader {
 public:
  // `file` must outlive the reader; it is read, not closed.
  NumberReader(FILE* file, std::string source);

  // Appends up to `max` numbers to `out`; fewer (possibly 0) only at the end
  // of the input. Returns how many it appended.
  absl::StatusOr<size_t> Read(size_t max, std::vector<uint64_t>* out);
  // Numbers read so far.
  uint64_t count() const { return count_; }

 private:
  // Refills buffer_ from the file; false at the end of the input.
  absl::StatusOr<bool> Fill();

  FILE* const file_;
  const std::string source_;
  std::string buffer_;  // unread bytes: [pos_, end)
  size_t pos_ = 0;
  bool eof_ = false;
  uint64_t line_ = 1;
  uint64_t count_ = 0;
};

}  // namespace tq

#endif  // TQ_CLIENT_NUMBER_PARSE_H_
