// Fuzzes index files (repo/store/index_file.h): DecodeIndexFile on hostile files, on hostile
// payloads sealed with the right key, and the EncodeIndexFile -> DecodeIndexFile round trip.
//
// Input: mode byte, then by mode % 3:
//   0 raw:    a whole index file (an ObjectKind::kIndex object).
//   1 seal:   the payload; the target seals it as a kIndex object with the fixed key, so the
//             parser after authentication sees attacker-chosen bytes.
//   2 build:  records of 47 bytes (pack selector, 46-byte entry with type and flags forced
//             valid); the target encodes those entries and decodes them back, as a version 1
//             file and as a version 2 file replacing one file and removing the first entry.
//
// Invariants (abort on violation): success only after authentication (raw mode re-opens the
// object independently); the envelope returns the payload sealed; for every decoded or built
// file, decode(encode(file)) == file.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz/fuzz_common.h"
#include "repo/store/index_file.h"
#include "repo/store/object_codec.h"

namespace {

using repo::fuzz::EncKey;

using repo::Bytes;
using repo::ByteSpan;
using repo::IndexEntry;

constexpr size_t kRecordSize = 1 + repo::kEntryWireSize;

repo::Id PackId(uint8_t selector) {
  repo::Id id;
  for (size_t i = 0; i < repo::Id::kSize; ++i)
    id.data()[i] = static_cast<uint8_t>(selector % 4 + i);
  return id;
}

void CheckRoundTrip(const repo::IndexFile& index) {
  const Bytes file = repo::EncodeIndexFile(EncKey(), index);
  auto back = repo::DecodeIndexFile(EncKey(), file, "fuzz round trip");
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(*back == index);
}

void FuzzRaw(ByteSpan file) {
  auto entries = repo::DecodeIndexFile(EncKey(), file, "fuzz");
  if (!entries.ok()) return;
  FUZZ_CHECK(repo::OpenObject(EncKey(), repo::ObjectKind::kIndex, file, "fuzz").ok());
  CheckRoundTrip(*entries);
}

void FuzzSealed(ByteSpan payload) {
  const Bytes file = repo::SealObject(EncKey(), repo::ObjectKind::kIndex, payload);
  auto opened = repo::OpenObject(EncKey(), repo::ObjectKind::kIndex, file, "fuzz");
  FUZZ_CHECK(opened.ok());
  FUZZ_CHECK(ByteSpan(*opened).size() == payload.size() &&
             std::equal(payload.begin(), payload.end(), opened->begin()));
  auto entries = repo::DecodeIndexFile(EncKey(), file, "fuzz");
  if (!entries.ok()) return;
  // The payload's own size bounds the entries: 8-byte prefix, 36 bytes per pack, 46 per entry,
  // 32 per replaced file and 64 per removed entry.
  FUZZ_CHECK(entries->entries.size() * repo::kEntryWireSize +
                 entries->supersedes.size() * repo::Id::kSize +
                 entries->removed.size() * 2 * repo::Id::kSize <=
             payload.size());
  CheckRoundTrip(*entries);
}

void FuzzBuilt(ByteSpan records) {
  std::vector<IndexEntry> entries;
  for (size_t at = 0; at + kRecordSize <= records.size(); at += kRecordSize) {
    Bytes wire(records.begin() + at + 1, records.begin() + at + kRecordSize);
    wire[0] = 1 + wire[0] % 2;         // a known type
    wire[1] &= repo::kKnownBlobFlags;  // known flags only
    repo::ByteReader r(wire);
    IndexEntry e;
    FUZZ_CHECK(repo::DecodeEntry(&r, PackId(records[at]), &e));
    entries.push_back(e);
  }
  CheckRoundTrip(repo::IndexFile{entries, {}, {}});
  if (entries.empty()) return;
  CheckRoundTrip(repo::IndexFile{
      entries, {PackId(records[0])}, {repo::RemovedEntry{entries[0].blob, PackId(1)}}});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const ByteSpan rest(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      FuzzRaw(rest);
      break;
    case 1:
      FuzzSealed(rest);
      break;
    case 2:
      FuzzBuilt(rest);
      break;
  }
  return 0;
}

// Seeds: valid index files (raw), their payloads (seal), and entry records (build).
std::vector<Bytes> FuzzSeeds() {
  std::vector<Bytes> seeds;
  std::vector<IndexEntry> entries;
  Bytes records;
  uint32_t offset = 0;
  for (int i = 0; i < 5; ++i) {
    IndexEntry e;
    const uint8_t selector = i < 3 ? 0 : 1;  // two packs: three entries, then two
    e.loc.pack = PackId(selector);
    for (size_t k = 0; k < repo::Id::kSize; ++k)
      e.blob.data()[k] = static_cast<uint8_t>(i * 37 + k);
    e.loc.type = i == 4 ? repo::BlobType::kTree : repo::BlobType::kData;
    e.loc.flags = i % 2 ? repo::kBlobFlagZstd : 0;
    e.loc.offset = offset;
    e.loc.length = 1000 + 40 * i;
    e.loc.raw_length = 3000 + i;
    offset = i == 2 ? 0 : offset + e.loc.length;
    entries.push_back(e);
    records.push_back(selector);
    repo::ByteWriter w(&records);
    repo::EncodeEntry(e, &w);
  }
  seeds.push_back(repo::fuzz::WithMode(0, repo::EncodeIndexFile(EncKey(), entries)));
  seeds.push_back(repo::fuzz::WithMode(0, repo::EncodeIndexFile(EncKey(), repo::IndexFile{})));
  const repo::IndexFile replacing{
      entries, {PackId(2), PackId(3)}, {repo::RemovedEntry{entries[1].blob, PackId(2)}}};
  seeds.push_back(repo::fuzz::WithMode(0, repo::EncodeIndexFile(EncKey(), replacing)));
  seeds.push_back(repo::fuzz::WithMode(2, records));

  // Payloads for seal mode: the same index in clear (version 1, and version 2 replacing a file
  // and removing an entry), an empty one, a version 2 one that replaces nothing, a newer version.
  Bytes payload;
  repo::ByteWriter w(&payload);
  w.U8(1);
  w.U8(0);
  w.U16(0);
  w.U32(2);
  for (uint8_t selector : {0, 1}) {
    w.Raw(PackId(selector).span());
    const size_t first = selector == 0 ? 0 : 3, count = selector == 0 ? 3 : 2;
    w.U32(static_cast<uint32_t>(count));
    for (size_t i = first; i < first + count; ++i) repo::EncodeEntry(entries[i], &w);
  }
  seeds.push_back(repo::fuzz::WithMode(1, payload));
  payload[0] = 2;
  w.U32(1);
  w.Raw(PackId(2).span());
  w.U32(1);
  w.Raw(entries[1].blob.span());
  w.Raw(PackId(2).span());
  seeds.push_back(repo::fuzz::WithMode(1, payload));
  seeds.push_back(repo::fuzz::WithMode(1, Bytes{1, 0, 0, 0, 0, 0, 0, 0}));
  seeds.push_back(repo::fuzz::WithMode(1, Bytes{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  seeds.push_back(repo::fuzz::WithMode(1, Bytes{3, 0, 0, 0, 0, 0, 0, 0}));
  Bytes damaged = repo::EncodeIndexFile(EncKey(), entries);
  damaged[damaged.size() / 2] ^= 1;
  seeds.push_back(repo::fuzz::WithMode(0, damaged));
  return seeds;
}
