// JSON string literals for what tq-client prints for scripts (json output
// lines, `status --json`). Strings here are UTF-8 (proto3 parsing checks
// it), so only quotes, backslashes and control characters need escapes.
#ifndef TQ_CLIENT_JSON_STRING_H_
#define TQ_CLIENT_JSON_STRING_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tq {

// `text` as a JSON string literal, quotes included.
inline std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "\\u00",
                          absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace tq

#endif  // TQ_CLIENT_JSON_STRING_H_
