// Byte buffers, spans, hex, and bounds-checked little-endian encoding.
//
// Every on-disk integer is little-endian. Decoders read through ByteReader, which never reads past
// its span: a truncated or hostile input makes a getter return false, never undefined behaviour.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace repo {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;
using MutableByteSpan = std::span<uint8_t>;

inline ByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsChars(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Lower-case hex of `b`.
std::string ToHex(ByteSpan b);
// Decodes lower- or upper-case hex; nullopt on odd length or a non-hex character.
std::optional<Bytes> FromHex(std::string_view hex);

// Appends fixed-width little-endian integers and raw bytes to a growing buffer.
class ByteWriter {
 public:
  explicit ByteWriter(Bytes* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(v); }
  void U16(uint16_t v) { Fixed(v, 2); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void U64(uint64_t v) { Fixed(v, 8); }
  void Raw(ByteSpan b) { out_->insert(out_->end(), b.begin(), b.end()); }
  // u32 length then the bytes. REQUIRES: s.size() < 2^32.
  void String(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(AsBytes(s));
  }

 private:
  void Fixed(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  Bytes* out_;
};

// Reads what ByteWriter wrote. Each getter returns false (and consumes nothing) when fewer bytes
// remain than it needs.
class ByteReader {
 public:
  explicit ByteReader(ByteSpan in) : in_(in) {}
  bool U8(uint8_t* v) { return Fixed(v, 1); }
  bool U16(uint16_t* v) { return Fixed(v, 2); }
  bool U32(uint32_t* v) { return Fixed(v, 4); }
  bool U64(uint64_t* v) { return Fixed(v, 8); }
  // Points `out` at the next n bytes (no copy; valid while the input is).
  bool Raw(size_t n, ByteSpan* out) {
    if (remaining() < n) return false;
    *out = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool Copy(MutableByteSpan out) {
    if (remaining() < out.size()) return false;
    if (!out.empty()) std::memcpy(out.data(), in_.data() + pos_, out.size());
    pos_ += out.size();
    return true;
  }
  bool String(std::string* s) {
    uint32_t n;
    ByteSpan b;
    size_t start = pos_;
    if (!U32(&n) || !Raw(n, &b)) {
      pos_ = start;
      return false;
    }
    s->assign(AsChars(b));
    return true;
  }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  bool done() const { return pos_ == in_.size(); }

 private:
  template <typename T>
  bool Fixed(T* v, int n) {
    if (remaining() < static_cast<size_t>(n)) return false;
    uint64_t x = 0;
    for (int i = 0; i < n; ++i) x |= static_cast<uint64_t>(in_[pos_ + i]) << (8 * i);
    *v = static_cast<T>(x);
    pos_ += n;
    return true;
  }
  ByteSpan in_;
  size_t pos_ = 0;
};

}  // namespace repo
