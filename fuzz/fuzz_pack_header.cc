// Fuzzes pack headers (repo/store/pack.h, DecodePackHeader) and the PackWriter round trip.
//
// Input: mode byte, then by mode % 4:
//   0 raw:        a whole pack. Decoded whole, and again the way ReadPackHeader does it (a short
//                 tail of 8 + 4 * (mode >> 2) bytes first, then the size the decoder asks for).
//                 The blobs of a decoded pack are decoded too (fuzzes DecodeBlob from real packs).
//   1 seal:       u32 blob_area | header plaintext. The target seals the plaintext with the fixed
//                 key under a correct trailer and decodes it as a pack of blob_area + tail bytes:
//                 fuzzes the parsing after authentication, which random bytes never reach.
//   2 seal-auto:  header plaintext; like 1, with blob_area = the sum of the entries' lengths.
//   3 writer:     zstd level byte | blob count byte | bytes split into 1-4 blobs; the target
//                 writes a pack with PackWriter and reads everything back.
//
// Invariants (abort on violation): success only after authentication (raw mode re-opens the
// sealed header independently); decoded entries re-encode to exactly the authenticated plaintext
// and tile the blob area; the short-tail path agrees with the whole-pack path; what PackWriter
// writes decodes to the same entries and blobs, and a blob opened under another type fails.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "fuzz/fuzz_common.h"
#include "repo/store/pack.h"

namespace {

using repo::fuzz::FixedKeys;
using repo::fuzz::LoadU32;

using repo::Bytes;
using repo::ByteSpan;
using repo::IndexEntry;

// Decompress() allocates raw_length up front; authenticated lengths are trusted by design, so the
// target skips zstd blobs claiming more than this rather than report the fuzzer's malloc limit.
constexpr uint32_t kMaxZstdRawLength = 16u << 20;

// The header plaintext as PackWriter::Finish writes it (docs/format.md, "Pack").
Bytes EncodeHeader(const std::vector<IndexEntry>& entries) {
  Bytes h;
  repo::ByteWriter w(&h);
  w.U8(repo::kPackHeaderVersion);
  w.U8(0);
  w.U16(0);
  w.U32(static_cast<uint32_t>(entries.size()));
  for (const IndexEntry& e : entries) repo::EncodeEntry(e, &w);
  return h;
}

Bytes Trailer(uint32_t sealed_len) {
  Bytes t;
  repo::ByteWriter w(&t);
  w.U32(sealed_len);
  w.Raw(repo::AsBytes("RPAK"));
  return t;
}

// Checks what every successful decode must satisfy; `plain` is the authenticated header.
void CheckDecoded(const std::vector<IndexEntry>& entries, const repo::Id& pack, ByteSpan plain,
                  uint64_t blob_area) {
  const Bytes reencoded = EncodeHeader(entries);
  FUZZ_CHECK(ByteSpan(reencoded).size() == plain.size());
  FUZZ_CHECK(std::equal(plain.begin(), plain.end(), reencoded.begin()));
  uint64_t offset = 0;
  for (const IndexEntry& e : entries) {
    FUZZ_CHECK(e.loc.pack == pack);
    FUZZ_CHECK(repo::IsKnownBlobType(static_cast<uint8_t>(e.loc.type)));
    FUZZ_CHECK((e.loc.flags & ~repo::kKnownBlobFlags) == 0);
    FUZZ_CHECK(e.loc.offset == offset && e.loc.length >= repo::kAeadOverhead);
    offset += e.loc.length;
  }
  FUZZ_CHECK(offset == blob_area);
}

void FuzzRaw(uint8_t mode, ByteSpan pack_bytes) {
  const repo::SecretBytes& key = FixedKeys().enc_key;
  const repo::Id pack = repo::PlainHash(pack_bytes);
  auto whole = repo::DecodePackHeader(key, pack, pack_bytes, pack_bytes.size());

  // ReadPackHeader's path: a guessed tail, then exactly what the decoder says it needs.
  const size_t guess = std::min<size_t>(pack_bytes.size(), 8 + 4 * static_cast<size_t>(mode >> 2));
  size_t needed = 0;
  auto partial =
      repo::DecodePackHeader(key, pack, pack_bytes.last(guess), pack_bytes.size(), &needed);
  if (!partial.ok() && needed != 0) {
    FUZZ_CHECK(partial.status().code() == repo::StatusCode::kInvalidArgument);
    FUZZ_CHECK(needed > guess && needed <= pack_bytes.size());
    partial = repo::DecodePackHeader(key, pack, pack_bytes.last(needed), pack_bytes.size());
  }
  FUZZ_CHECK(partial.ok() == whole.ok());
  if (!whole.ok()) {
    FUZZ_CHECK(whole.status().code() == partial.status().code());
    return;
  }
  FUZZ_CHECK(*partial == *whole);

  // Success means the header authenticated: open it independently.
  const uint32_t sealed_len = LoadU32(pack_bytes.data() + pack_bytes.size() - 8);
  const ByteSpan trailer = pack_bytes.last(8);
  const ByteSpan sealed = pack_bytes.subspan(pack_bytes.size() - 8 - sealed_len, sealed_len);
  auto plain = repo::Open(key, sealed, trailer);
  FUZZ_CHECK(plain.ok());
  CheckDecoded(*whole, pack, *plain, pack_bytes.size() - 8 - sealed_len);

  for (const IndexEntry& e : *whole) {
    if ((e.loc.flags & repo::kBlobFlagZstd) && e.loc.raw_length > kMaxZstdRawLength) continue;
    auto blob = repo::DecodeBlob(FixedKeys(), e.loc.type, e.blob, e.loc.flags, e.loc.raw_length,
                                 pack_bytes.subspan(e.loc.offset, e.loc.length));
    if (blob.ok()) {
      FUZZ_CHECK(blob->size() == e.loc.raw_length);
      FUZZ_CHECK(repo::ComputeBlobId(FixedKeys(), e.loc.type, *blob) == e.blob);
    }
  }
}

void FuzzSealed(ByteSpan header_plain, uint64_t blob_area) {
  const repo::SecretBytes& key = FixedKeys().enc_key;
  const Bytes trailer = Trailer(static_cast<uint32_t>(header_plain.size() + repo::kAeadOverhead));
  Bytes tail = repo::Seal(key, header_plain, trailer);
  tail.insert(tail.end(), trailer.begin(), trailer.end());
  const repo::Id pack{};  // the name is not authenticated; any id will do
  auto entries = repo::DecodePackHeader(key, pack, tail, blob_area + tail.size());
  if (entries.ok()) CheckDecoded(*entries, pack, header_plain, blob_area);
}

// Sum of the length fields of the 46-byte entries after the 8-byte header prefix (lenient: no
// other field is checked), so that seal-auto inputs tile their blob area without help.
uint64_t SumOfLengths(ByteSpan plain) {
  uint64_t sum = 0;
  for (size_t at = 8; at + repo::kEntryWireSize <= plain.size(); at += repo::kEntryWireSize) {
    sum += LoadU32(plain.data() + at + 38);
  }
  return sum;
}

void FuzzWriter(ByteSpan in) {
  if (in.size() < 2) return;
  const int level = in[0] % 4;  // 0 = store uncompressed
  const size_t count = 1 + in[1] % 4;
  in = in.subspan(2);
  const repo::MasterKeys& keys = FixedKeys();

  repo::PackWriter writer(keys.enc_key);
  std::vector<ByteSpan> pieces;
  for (size_t i = 0; i < count; ++i) {
    const size_t begin = in.size() * i / count, end = in.size() * (i + 1) / count;
    pieces.push_back(in.subspan(begin, end - begin));
    const repo::BlobType type = i % 2 ? repo::BlobType::kTree : repo::BlobType::kData;
    const repo::Id id = repo::ComputeBlobId(keys, type, pieces.back());
    writer.Add(type, id, repo::EncodeBlob(keys, type, id, pieces.back(), level));
  }
  auto pack = writer.Finish();
  FUZZ_CHECK(pack.ok());
  FUZZ_CHECK(writer.size() == 0 && writer.count() == 0);
  FUZZ_CHECK(pack->id == repo::PlainHash(pack->bytes));
  FUZZ_CHECK(pack->entries.size() == count);

  auto decoded = repo::DecodePackHeader(keys.enc_key, pack->id, pack->bytes, pack->bytes.size());
  FUZZ_CHECK(decoded.ok() && *decoded == pack->entries);
  const uint32_t sealed_len = LoadU32(pack->bytes.data() + pack->bytes.size() - 8);
  auto from_tail = repo::DecodePackHeader(
      keys.enc_key, pack->id, ByteSpan(pack->bytes).last(sealed_len + 8), pack->bytes.size());
  FUZZ_CHECK(from_tail.ok() && *from_tail == pack->entries);

  for (size_t i = 0; i < count; ++i) {
    const IndexEntry& e = pack->entries[i];
    const ByteSpan sealed = ByteSpan(pack->bytes).subspan(e.loc.offset, e.loc.length);
    auto blob = repo::DecodeBlob(keys, e.loc.type, e.blob, e.loc.flags, e.loc.raw_length, sealed);
    FUZZ_CHECK(blob.ok());
    FUZZ_CHECK(std::equal(blob->begin(), blob->end(), pieces[i].begin(), pieces[i].end()));
    const repo::BlobType other =
        e.loc.type == repo::BlobType::kData ? repo::BlobType::kTree : repo::BlobType::kData;
    FUZZ_CHECK(!repo::DecodeBlob(keys, other, e.blob, e.loc.flags, e.loc.raw_length, sealed).ok());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const ByteSpan rest(data + 1, size - 1);
  switch (mode % 4) {
    case 0:
      FuzzRaw(mode, rest);
      break;
    case 1:
      if (rest.size() >= 4) FuzzSealed(rest.subspan(4), LoadU32(rest.data()));
      break;
    case 2:
      FuzzSealed(rest, SumOfLengths(rest));
      break;
    case 3:
      FuzzWriter(rest);
      break;
  }
  return 0;
}

// Seeds: valid packs (raw), their header plaintexts (seal modes), and writer inputs.
std::vector<Bytes> FuzzSeeds() {
  const repo::MasterKeys& keys = FixedKeys();
  std::vector<Bytes> seeds;

  const Bytes text = [] {
    Bytes t;
    for (int i = 0; i < 40; ++i) {
      const std::string line = "row " + std::to_string(i) + "\tsome text that compresses\n";
      t.insert(t.end(), line.begin(), line.end());
    }
    return t;
  }();
  const Bytes noise = [] {
    Bytes n(300);
    uint32_t x = 12345;
    for (uint8_t& b : n) b = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
    return n;
  }();

  // Packs of 1, 2 and 3 blobs; one uncompressed, the others mixed.
  for (int blobs = 1; blobs <= 3; ++blobs) {
    repo::PackWriter writer(keys.enc_key);
    for (int i = 0; i < blobs; ++i) {
      const ByteSpan plain = i % 2 ? ByteSpan(noise) : ByteSpan(text).first(100 * (i + 1));
      const repo::BlobType type = i == 2 ? repo::BlobType::kTree : repo::BlobType::kData;
      const repo::Id id = repo::ComputeBlobId(keys, type, plain);
      writer.Add(type, id, repo::EncodeBlob(keys, type, id, plain, blobs == 1 ? 0 : 3));
    }
    auto pack = writer.Finish();
    FUZZ_CHECK(pack.ok());
    seeds.push_back(
        repo::fuzz::WithMode(4 * 63, pack->bytes));         // 260-byte first guess: whole header
    seeds.push_back(repo::fuzz::WithMode(0, pack->bytes));  // 8-byte first guess: asks for more
    seeds.push_back(repo::fuzz::WithMode(2, EncodeHeader(pack->entries)));  // seal-auto
    Bytes explicit_area(4);
    const uint64_t area =
        pack->bytes.size() - 8 - LoadU32(pack->bytes.data() + pack->bytes.size() - 8);
    explicit_area[0] = static_cast<uint8_t>(area);
    explicit_area[1] = static_cast<uint8_t>(area >> 8);
    Bytes h = EncodeHeader(pack->entries);
    explicit_area.insert(explicit_area.end(), h.begin(), h.end());
    seeds.push_back(repo::fuzz::WithMode(1, explicit_area));  // seal, explicit area
    if (blobs == 3) {
      Bytes damaged = pack->bytes;
      damaged[damaged.size() - 20] ^= 0x40;  // inside the sealed header
      seeds.push_back(repo::fuzz::WithMode(0, damaged));
      damaged = pack->bytes;
      damaged[10] ^= 0x40;  // inside the first blob: header fine, blob fails
      seeds.push_back(repo::fuzz::WithMode(0, damaged));
    }
  }
  seeds.push_back(repo::fuzz::WithMode(0, repo::AsBytes("RPAK")));
  seeds.push_back(repo::fuzz::WithMode(2, Bytes{2, 0, 0, 0, 0, 0, 0, 0}));  // newer header version
  Bytes writer_in{3, 1};
  writer_in.insert(writer_in.end(), text.begin(), text.end());
  seeds.push_back(repo::fuzz::WithMode(3, writer_in));
  writer_in = {0, 2};
  writer_in.insert(writer_in.end(), noise.begin(), noise.begin() + 90);
  seeds.push_back(repo::fuzz::WithMode(3, writer_in));
  return seeds;
}
