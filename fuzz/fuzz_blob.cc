// Fuzzes the blob codec (repo/store/blob_codec.h): DecodeBlob on hostile sealed bytes, on hostile
// plaintext sealed with the right key, and the EncodeBlob -> DecodeBlob round trip.
//
// Input: mode byte, then by mode % 3:
//   0 raw:    type | flags | raw_length u32 | id (32) | sealed blob
//   1 seal:   type | flags | raw_length u32 | id (32) | payload (zstd frame or plaintext); the
//             target seals the payload with the fixed key and AD (type, id), so decompression and
//             the length and hash checks see attacker-chosen bytes. An all-zero id means "the
//             right id" (ComputeBlobId of the payload, or of its decompression when flags say
//             zstd).
//   2 trip:   type | zstd level byte | plaintext
// The type byte's low bit picks data (0) or tree (1).
//
// Invariants (abort on violation): a decoded blob has raw_length bytes and ComputeBlobId gives its
// id; in seal mode with the right id and length, decoding succeeds and returns the payload;
// EncodeBlob output decodes back, and fails under another type, another id or another length;
// data and tree ids of the same bytes differ.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "fuzz/fuzz_common.h"
#include "repo/store/blob_codec.h"
#include "repo/store/compression.h"

namespace {

using repo::fuzz::FixedKeys;
using repo::fuzz::LoadU32;

using repo::BlobType;
using repo::Bytes;
using repo::ByteSpan;

// Decompress() allocates raw_length up front; authenticated lengths are trusted by design, so the
// target skips zstd blobs claiming more than this rather than report the fuzzer's malloc limit.
constexpr uint32_t kMaxZstdRawLength = 16u << 20;
constexpr size_t kPrefix = 1 + 1 + 4 + repo::Id::kSize;  // type, flags, raw_length, id

BlobType TypeOf(uint8_t b) { return b & 1 ? BlobType::kTree : BlobType::kData; }

// The associated data, as documented in repo/store/blob_codec.h: type u8 || id (32).
Bytes BlobAd(BlobType type, const repo::Id& id) {
  Bytes ad{static_cast<uint8_t>(type)};
  ad.insert(ad.end(), id.span().begin(), id.span().end());
  return ad;
}

void CheckDecoded(const repo::Result<Bytes>& blob, BlobType type, const repo::Id& id,
                  uint32_t raw_length) {
  if (!blob.ok()) {
    FUZZ_CHECK(blob.status().code() == repo::StatusCode::kCorruption);
    return;
  }
  FUZZ_CHECK(blob->size() == raw_length);
  FUZZ_CHECK(repo::ComputeBlobId(FixedKeys(), type, *blob) == id);
}

void FuzzRawOrSealed(bool seal, ByteSpan in) {
  if (in.size() < kPrefix) return;
  const BlobType type = TypeOf(in[0]);
  const uint8_t flags = in[1];
  const uint32_t raw_length = LoadU32(in.data() + 2);
  repo::Id id = repo::Id::FromSpan(in.subspan(6, repo::Id::kSize));
  const ByteSpan body = in.subspan(kPrefix);
  const bool zstd = flags & repo::kBlobFlagZstd;
  if (zstd && raw_length > kMaxZstdRawLength) return;
  const repo::MasterKeys& keys = FixedKeys();

  if (!seal) {
    CheckDecoded(repo::DecodeBlob(keys, type, id, flags, raw_length, body), type, id, raw_length);
    return;
  }
  std::optional<Bytes> expect;  // what decoding must return, when the target knows
  if (id.IsZero()) {
    if (!zstd) {
      id = repo::ComputeBlobId(keys, type, body);
      if (body.size() == raw_length) expect = Bytes(body.begin(), body.end());
    } else if (auto plain = repo::Decompress(body, raw_length, "fuzz"); plain.ok()) {
      id = repo::ComputeBlobId(keys, type, *plain);
      expect = std::move(plain).value();
    }
  }
  const Bytes sealed = repo::Seal(keys.enc_key, body, BlobAd(type, id));
  auto blob = repo::DecodeBlob(keys, type, id, flags, raw_length, sealed);
  CheckDecoded(blob, type, id, raw_length);
  if (expect) FUZZ_CHECK(blob.ok() && *blob == *expect);
}

void FuzzRoundTrip(ByteSpan in) {
  if (in.size() < 2) return;
  const BlobType type = TypeOf(in[0]);
  const int level = in[1] % 5;  // 0 = store uncompressed
  const ByteSpan plain = in.subspan(2);
  const repo::MasterKeys& keys = FixedKeys();
  const repo::Id id = repo::ComputeBlobId(keys, type, plain);
  const repo::EncodedBlob enc = repo::EncodeBlob(keys, type, id, plain, level);
  FUZZ_CHECK(enc.raw_length == plain.size());
  FUZZ_CHECK((enc.flags & ~repo::kBlobFlagZstd) == 0);
  FUZZ_CHECK(level != 0 || enc.flags == 0);
  FUZZ_CHECK(enc.sealed.size() >= repo::kAeadOverhead);
  FUZZ_CHECK(enc.flags == 0 ? enc.sealed.size() == plain.size() + repo::kAeadOverhead
                            : enc.sealed.size() < plain.size() + repo::kAeadOverhead);

  auto blob = repo::DecodeBlob(keys, type, id, enc.flags, enc.raw_length, enc.sealed);
  FUZZ_CHECK(blob.ok());
  FUZZ_CHECK(std::equal(blob->begin(), blob->end(), plain.begin(), plain.end()));

  const BlobType other = type == BlobType::kData ? BlobType::kTree : BlobType::kData;
  FUZZ_CHECK(repo::ComputeBlobId(keys, other, plain) != id);  // domain separation
  FUZZ_CHECK(!repo::DecodeBlob(keys, other, id, enc.flags, enc.raw_length, enc.sealed).ok());
  repo::Id other_id = id;
  other_id.data()[in.size() % repo::Id::kSize] ^= 1;
  FUZZ_CHECK(!repo::DecodeBlob(keys, type, other_id, enc.flags, enc.raw_length, enc.sealed).ok());
  FUZZ_CHECK(!repo::DecodeBlob(keys, type, id, enc.flags, enc.raw_length + 1, enc.sealed).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const ByteSpan rest(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      FuzzRawOrSealed(false, rest);
      break;
    case 1:
      FuzzRawOrSealed(true, rest);
      break;
    case 2:
      FuzzRoundTrip(rest);
      break;
  }
  return 0;
}

// Seeds: valid sealed blobs (raw), payloads to seal (seal), plaintexts (trip).
std::vector<Bytes> FuzzSeeds() {
  const repo::MasterKeys& keys = FixedKeys();
  std::vector<Bytes> seeds;
  Bytes text;
  for (int i = 0; i < 30; ++i) {
    const std::string line = "INSERT INTO t VALUES (" + std::to_string(i) + ", 'abcabc');\n";
    text.insert(text.end(), line.begin(), line.end());
  }
  const Bytes small = {'h', 'e', 'l', 'l', 'o'};

  auto prefixed = [](uint8_t mode, BlobType type, uint8_t flags, uint32_t raw_length,
                     const repo::Id& id, ByteSpan body) {
    Bytes b{mode, static_cast<uint8_t>(type), flags};
    repo::ByteWriter w(&b);
    w.U32(raw_length);
    w.Raw(id.span());
    w.Raw(body);
    return b;
  };
  for (const Bytes* plain : std::initializer_list<const Bytes*>{&text, &small}) {
    for (int level : {0, 3}) {
      for (BlobType type : {BlobType::kData, BlobType::kTree}) {
        const repo::Id id = repo::ComputeBlobId(keys, type, *plain);
        const repo::EncodedBlob enc = repo::EncodeBlob(keys, type, id, *plain, level);
        seeds.push_back(prefixed(0, type, enc.flags, enc.raw_length, id, enc.sealed));
      }
    }
    Bytes compressed;
    if (repo::CompressIfSmaller(*plain, 3, &compressed)) {
      seeds.push_back(prefixed(1, BlobType::kData, repo::kBlobFlagZstd,
                               static_cast<uint32_t>(plain->size()), repo::Id(), compressed));
    }
    seeds.push_back(
        prefixed(1, BlobType::kTree, 0, static_cast<uint32_t>(plain->size()), repo::Id(), *plain));
    Bytes trip(3 + plain->size());  // mode 2, data, level 3 (sized up front: GCC 12 -Warray-bounds)
    trip[0] = 2;
    trip[2] = 3;
    std::copy(plain->begin(), plain->end(), trip.begin() + 3);
    seeds.push_back(trip);
  }
  return seeds;
}
