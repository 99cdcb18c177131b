// Strict parsing of the numbers tq-client takes on its command line and in
// --input files: decimal digits only, 0..2^64-1. Errors are
// kInvalidArgument with a message naming the offending text.
#ifndef TQ_CLIENT_NUMBER_PARSE_H_
#define TQ_CLIENT_NUMBER_PARSE_H_

#include <cstdint>
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

}  // namespace tq

#endif  // TQ_CLIENT_NUMBER_PARSE_H_
