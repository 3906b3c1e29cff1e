// Id: a 32-byte identifier. Blob ids are keyed BLAKE2b-256 of the plaintext; file ids (packs, index
// files, snapshots, keys) are BLAKE2b-256 of the stored bytes (docs/format.md, "Identifiers").
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace repo {

class Id {
 public:
  static constexpr size_t kSize = 32;
  Id() { bytes_.fill(0); }
  explicit Id(const std::array<uint8_t, kSize>& b) : bytes_(b) {}
  // REQUIRES: b.size() == kSize.
  static Id FromSpan(ByteSpan b) {
    Id id;
    std::memcpy(id.bytes_.data(), b.data(), kSize);
    return id;
  }
  // Full 64-character hex; nullopt if malformed.
  static std::optional<Id> ParseHex(std::string_view hex);

  std::string Hex() const { return ToHex(bytes_); }
  // First 8 hex characters, for display.
  std::string ShortHex() const { return Hex().substr(0, 8); }
  ByteSpan span() const { return bytes_; }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  bool IsZero() const {
    for (uint8_t b : bytes_)
      if (b) return false;
    return true;
  }

  friend bool operator==(const Id&, const Id&) = default;
  friend auto operator<=>(const Id&, const Id&) = default;

 private:
  std::array<uint8_t, kSize> bytes_;
};

struct IdHash {
  size_t operator()(const Id& id) const {
    size_t h;  // ids are uniformly distributed: any 8 bytes make a good hash
    std::memcpy(&h, id.data(), sizeof h);
    return h;
  }
};

}  // namespace repo
