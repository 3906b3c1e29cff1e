// Where a blob lives, and the 46-byte entry that records it in pack headers and index files
// (docs/format.md, "Pack header entry"). Shared by the pack codec, index files and the cache.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/bytes.h"
#include "base/id.h"

namespace repo {

enum class BlobType : uint8_t {
  kData = 1,  // file or stream content (a chunk)
  kTree = 2,  // a directory listing (issue: snapshots)
};
// True for the types this binary knows.
inline bool IsKnownBlobType(uint8_t t) { return t == 1 || t == 2; }
std::string_view BlobTypeName(BlobType t);

// Blob flag bits (entry byte 1).
inline constexpr uint8_t kBlobFlagZstd = 0x01;  // plaintext was zstd-compressed before sealing
inline constexpr uint8_t kKnownBlobFlags = kBlobFlagZstd;

struct BlobLocation {
  Id pack;
  BlobType type = BlobType::kData;
  uint8_t flags = 0;
  uint32_t offset = 0;      // of the sealed blob within the pack
  uint32_t length = 0;      // sealed length: nonce + ciphertext + tag
  uint32_t raw_length = 0;  // plaintext length after decompression

  friend bool operator==(const BlobLocation&, const BlobLocation&) = default;
};

struct IndexEntry {
  Id blob;
  BlobLocation loc;
  friend bool operator==(const IndexEntry&, const IndexEntry&) = default;
};

// An entry that an index file replacing others removes: blob `blob` is no longer in pack `pack`
// (docs/format.md, "Index file").
struct RemovedEntry {
  Id blob;
  Id pack;
  friend bool operator==(const RemovedEntry&, const RemovedEntry&) = default;
};

// Entry wire form, 46 bytes: type u8 | flags u8 | blob id (32) | offset u32 | length u32 |
// raw_length u32. The pack id is not part of it (it is implied by where the entry is stored).
inline constexpr size_t kEntryWireSize = 46;
void EncodeEntry(const IndexEntry& e, ByteWriter* w);
// Reads one entry; `pack` fills loc.pack. False on truncation, unknown type or unknown flags.
bool DecodeEntry(ByteReader* r, const Id& pack, IndexEntry* e);

}  // namespace repo
