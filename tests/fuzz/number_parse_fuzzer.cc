// libFuzzer target: the client's number parsing (command-line numbers and
// --input files: untrusted text). ParseNumber is checked against a plain
// reference; NumberReader, which reads a file a block at a time with tokens
// across refills, must give exactly ParseNumberList's numbers, or an error
// where it errs, for any batch size.
//
// Input layout: byte 0 = batch size for NumberReader::Read (1..256), then
// the text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "client/number_parse.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

// The reference: 1..20 decimal digits whose value fits in 64 bits.
bool ReferenceParse(const std::string& text, uint64_t* value) {
  if (text.empty()) return false;
  unsigned __int128 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > UINT64_MAX) return false;
  }
  *value = static_cast<uint64_t>(v);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tq::fuzz::Input in(data, size);
  const size_t batch = static_cast<size_t>(in.Byte()) + 1;
  const std::string text = in.Rest();

  // Each whitespace-separated token on its own, and the text as one token.
  std::vector<uint64_t> reference;
  bool reference_ok = true;
  // NumberReader keeps at most 65 characters of a token: a longer one is an
  // error there even when it is a zero-padded number ParseNumber accepts.
  bool long_token = false;
  for (size_t i = 0; i < text.size();) {
    if (IsSpace(text[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    const std::string token = text.substr(start, i - start);
    long_token |= token.size() > 64;
    uint64_t want = 0;
    const bool ok = ReferenceParse(token, &want);
    absl::StatusOr<uint64_t> got = tq::ParseNumber(token);
    if (got.ok() != ok || (ok && *got != want)) std::abort();
    if (!got.ok() && got.status().code() != absl::StatusCode::kInvalidArgument) {
      std::abort();
    }
    if (ok) {
      reference.push_back(want);
    } else {
      reference_ok = false;
    }
  }
  (void)tq::ParseNumber(text);
  if (reference.empty()) reference_ok = false;  // "contains no numbers"

  absl::StatusOr<std::vector<uint64_t>> list = tq::ParseNumberList(text, "fuzz");
  if (list.ok() != reference_ok) std::abort();
  if (list.ok() && *list != reference) std::abort();

  // The same text as a file, read in batches.
  std::string copy = text;
  FILE* file = fmemopen(copy.empty() ? nullptr : copy.data(), copy.size(), "r");
  if (file == nullptr) {
    if (!copy.empty()) std::abort();
    return 0;
  }
  tq::NumberReader reader(file, "fuzz");
  std::vector<uint64_t> streamed;
  bool stream_ok = true;
  while (true) {
    const size_t before = streamed.size();
    absl::StatusOr<size_t> n = reader.Read(batch, &streamed);
    if (!n.ok()) {
      stream_ok = false;
      break;
    }
    if (*n != streamed.size() - before || *n > batch) std::abort();
    if (*n < batch) break;  // the end of the input
  }
  fclose(file);
  if (stream_ok != (reference_ok && !long_token)) std::abort();
  if (stream_ok && streamed != reference) std::abort();
  // Numbers read before an error are a prefix of the reference's tokens.
  if (!stream_ok && streamed.size() > reference.size()) std::abort();
  return 0;
}
