// A small JSON reader for system tests: parses what `repo --json` prints, so tests check fields
// by name (and that the output is valid JSON) instead of searching for substrings. Header-only.
// Numbers are kept as int64 when they are integers (ids, sizes and nanosecond times need all 64
// bits), as double otherwise. \uXXXX escapes become UTF-8 (surrogate pairs joined), and a lone
// \udc80-\udcff the byte 80-ff it carries, as repo's JSON writer escapes bytes that are not UTF-8
// (cli/json.h).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace repo::test {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

  Kind kind() const { return kind_; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_int() const { return kind_ == Kind::kInt; }

  bool Has(const std::string& key) const { return object_.count(key) > 0; }
  // Member `key` of an object; a null value if absent (so chains never crash).
  const JsonValue& operator[](const std::string& key) const {
    auto it = object_.find(key);
    return it == object_.end() ? Null() : it->second;
  }
  const JsonValue& operator[](size_t i) const { return i < array_.size() ? array_[i] : Null(); }
  size_t size() const { return kind_ == Kind::kArray ? array_.size() : object_.size(); }
  const std::vector<JsonValue>& items() const { return array_; }
  const std::map<std::string, JsonValue>& members() const { return object_; }

  int64_t Int() const { return kind_ == Kind::kInt ? int_ : static_cast<int64_t>(double_); }
  const std::string& Str() const { return string_; }
  bool Bool() const { return bool_; }
  std::vector<std::string> Strings() const {
    std::vector<std::string> out;
    for (const auto& v : array_) out.push_back(v.string_);
    return out;
  }

  // Parses one JSON value (surrounding whitespace allowed); nullopt if `text` is not valid JSON.
  static std::optional<JsonValue> Parse(std::string_view text) {
    size_t pos = 0;
    JsonValue v;
    if (!ParseValue(text, pos, v, 0)) return std::nullopt;
    SkipSpace(text, pos);
    if (pos != text.size()) return std::nullopt;
    return v;
  }

  // Parses one value per non-empty line (what `repo --json` prints for streams of records).
  static std::optional<std::vector<JsonValue>> ParseLines(std::string_view text) {
    std::vector<JsonValue> out;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(start, end - start);
      if (!line.empty()) {
        auto v = Parse(line);
        if (!v) return std::nullopt;
        out.push_back(std::move(*v));
      }
      start = end + 1;
    }
    return out;
  }

 private:
  static const JsonValue& Null() {
    static const JsonValue kNull;
    return kNull;
  }
  static void SkipSpace(std::string_view t, size_t& p) {
    while (p < t.size() && (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' || t[p] == '\r')) ++p;
  }
  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  static bool Hex4(std::string_view t, size_t& p, uint32_t& out) {
    if (p + 4 > t.size()) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = t[p++];
      out <<= 4;
      if (c >= '0' && c <= '9')
        out |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        out |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        out |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    return true;
  }
  static bool ParseString(std::string_view t, size_t& p, std::string& out) {
    if (p >= t.size() || t[p] != '"') return false;
    ++p;
    while (p < t.size()) {
      unsigned char c = static_cast<unsigned char>(t[p++]);
      if (c == '"') return true;
      if (c < 0x20) return false;  // control characters must be escaped
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (p >= t.size()) return false;
      char e = t[p++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(t, p, cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && p + 1 < t.size() && t[p] == '\\' && t[p + 1] == 'u') {
            size_t save = p;
            p += 2;
            uint32_t lo;
            if (Hex4(t, p, lo) && lo >= 0xDC00 && lo < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              p = save;
            }
          }
          if (cp >= 0xDC80 && cp <= 0xDCFF) {
            out += static_cast<char>(cp - 0xDC00);  // a lone escaped byte ("surrogateescape")
          } else {
            AppendUtf8(out, cp);
          }
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  static bool ParseValue(std::string_view t, size_t& p, JsonValue& v, int depth) {
    if (depth > 64) return false;
    SkipSpace(t, p);
    if (p >= t.size()) return false;
    char c = t[p];
    if (c == '{') {
      ++p;
      v.kind_ = Kind::kObject;
      SkipSpace(t, p);
      if (p < t.size() && t[p] == '}') return ++p, true;
      for (;;) {
        SkipSpace(t, p);
        std::string key;
        if (!ParseString(t, p, key)) return false;
        SkipSpace(t, p);
        if (p >= t.size() || t[p++] != ':') return false;
        JsonValue member;
        if (!ParseValue(t, p, member, depth + 1)) return false;
        v.object_[key] = std::move(member);
        SkipSpace(t, p);
        if (p >= t.size()) return false;
        if (t[p] == ',') {
          ++p;
          continue;
        }
        if (t[p] == '}') return ++p, true;
        return false;
      }
    }
    if (c == '[') {
      ++p;
      v.kind_ = Kind::kArray;
      SkipSpace(t, p);
      if (p < t.size() && t[p] == ']') return ++p, true;
      for (;;) {
        JsonValue item;
        if (!ParseValue(t, p, item, depth + 1)) return false;
        v.array_.push_back(std::move(item));
        SkipSpace(t, p);
        if (p >= t.size()) return false;
        if (t[p] == ',') {
          ++p;
          continue;
        }
        if (t[p] == ']') return ++p, true;
        return false;
      }
    }
    if (c == '"') {
      v.kind_ = Kind::kString;
      return ParseString(t, p, v.string_);
    }
    if (t.substr(p, 4) == "true") return v.kind_ = Kind::kBool, v.bool_ = true, p += 4, true;
    if (t.substr(p, 5) == "false") return v.kind_ = Kind::kBool, v.bool_ = false, p += 5, true;
    if (t.substr(p, 4) == "null") return v.kind_ = Kind::kNull, p += 4, true;
    // Number.
    size_t start = p;
    if (p < t.size() && t[p] == '-') ++p;
    bool integer = true;
    while (p < t.size() && ((t[p] >= '0' && t[p] <= '9') || t[p] == '.' || t[p] == 'e' ||
                            t[p] == 'E' || t[p] == '+' || t[p] == '-')) {
      if (t[p] == '.' || t[p] == 'e' || t[p] == 'E') integer = false;
      ++p;
    }
    if (p == start || (p == start + 1 && t[start] == '-')) return false;
    std::string num(t.substr(start, p - start));
    char* end = nullptr;
    if (integer) {
      v.kind_ = Kind::kInt;
      v.int_ = std::strtoll(num.c_str(), &end, 10);
    } else {
      v.kind_ = Kind::kDouble;
      v.double_ = std::strtod(num.c_str(), &end);
    }
    return end && *end == '\0';
  }

  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::map<std::string, JsonValue> object_;
};

}  // namespace repo::test
