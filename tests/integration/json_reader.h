// A small JSON reader for tests that check what tq-client prints for
// scripts (`status --json`): parses RFC 8259 text into a tree, or fails.
// A \uXXXX escape is decoded only below 0x80 (all tq prints); any other
// fails the parse. Numbers keep their text. Not for untrusted input:
// recursion is unbounded.
#ifndef TQ_TESTS_INTEGRATION_JSON_READER_H_
#define TQ_TESTS_INTEGRATION_JSON_READER_H_

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

namespace tq::testing {

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  std::string text;  // a string's value, a number's digits, "true"/"false"
  std::vector<Json> items;  // an array's
  // An object's members: keys[i] names values[i]. (Two vectors: a vector
  // of pair<string, Json> needs Json complete, a vector of Json does not.)
  std::vector<std::string> keys;
  std::vector<Json> values;

  // The member `key` of an object; null if there is none.
  const Json& operator[](absl::string_view key) const {
    static const Json kMissing;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return values[i];
    }
    return kMissing;
  }
  const Json& operator[](size_t i) const { return items.at(i); }
  size_t size() const { return items.size(); }
  // A number, or a string of digits (the proto3 JSON form of 64-bit
  // integers); nullopt for anything else.
  std::optional<uint64_t> AsUint() const {
    uint64_t n = 0;
    if ((kind == Kind::kNumber || kind == Kind::kString) &&
        absl::SimpleAtoi(text, &n)) {
      return n;
    }
    return std::nullopt;
  }
};

// Parses `text` whole (whitespace around it allowed); nullopt if it is not
// one JSON value.
inline std::optional<Json> ParseJson(absl::string_view text) {
  struct Parser {
    absl::string_view in;
    size_t at = 0;

    void Space() {
      while (at < in.size() && (in[at] == ' ' || in[at] == '\n' ||
                                in[at] == '\t' || in[at] == '\r')) {
        ++at;
      }
    }
    bool Eat(char c) {
      Space();
      if (at < in.size() && in[at] == c) {
        ++at;
        return true;
      }
      return false;
    }
    bool Word(absl::string_view word) {
      if (in.substr(at, word.size()) != word) return false;
      at += word.size();
      return true;
    }
    std::optional<std::string> String() {
      if (!Eat('"')) return std::nullopt;
      std::string out;
      while (at < in.size() && in[at] != '"') {
        char c = in[at++];
        if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
        if (c == '\\') {
          if (at >= in.size()) return std::nullopt;
          const char e = in[at++];
          switch (e) {
            case '"': case '\\': case '/': c = e; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
              if (at + 4 > in.size()) return std::nullopt;
              const long code = std::strtol(std::string(in.substr(at, 4)).c_str(),
                                            nullptr, 16);
              if (code >= 0x80) return std::nullopt;
              c = static_cast<char>(code);
              at += 4;
              break;
            }
            default: return std::nullopt;
          }
        }
        out += c;
      }
      if (!Eat('"')) return std::nullopt;
      return out;
    }
    std::optional<Json> Value() {
      Space();
      if (at >= in.size()) return std::nullopt;
      Json v;
      const char c = in[at];
      if (c == '{') {
        ++at;
        v.kind = Json::Kind::kObject;
        if (Eat('}')) return v;
        do {
          std::optional<std::string> key = String();
          if (!key || !Eat(':')) return std::nullopt;
          std::optional<Json> value = Value();
          if (!value) return std::nullopt;
          v.keys.push_back(std::move(*key));
          v.values.push_back(std::move(*value));
        } while (Eat(','));
        if (!Eat('}')) return std::nullopt;
      } else if (c == '[') {
        ++at;
        v.kind = Json::Kind::kArray;
        if (Eat(']')) return v;
        do {
          std::optional<Json> item = Value();
          if (!item) return std::nullopt;
          v.items.push_back(std::move(*item));
        } while (Eat(','));
        if (!Eat(']')) return std::nullopt;
      } else if (c == '"') {
        std::optional<std::string> s = String();
        if (!s) return std::nullopt;
        v.kind = Json::Kind::kString;
        v.text = std::move(*s);
      } else if (Word("true") || Word("false")) {
        v.kind = Json::Kind::kBool;
        v.text = in[at - 2] == 'u' ? "true" : "false";  // tr[u]e, fal[s]e
      } else if (Word("null")) {
        v.kind = Json::Kind::kNull;
      } else {
        const size_t start = at;
        while (at < in.size() && absl::string_view("-+.eE0123456789").find(
                                     in[at]) != absl::string_view::npos) {
          ++at;
        }
        if (at == start) return std::nullopt;
        v.kind = Json::Kind::kNumber;
        v.text = std::string(in.substr(start, at - start));
      }
      return v;
    }
  } parser{text};
  std::optional<Json> value = parser.Value();
  parser.Space();
  if (!value || parser.at != text.size()) return std::nullopt;
  return value;
}

}  // namespace tq::testing

#endif  // TQ_TESTS_INTEGRATION_JSON_READER_H_
