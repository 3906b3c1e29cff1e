// Index files (repo/store/index_file.h): round trips grouped by pack, and every damaged file or
// payload is refused.
#include "repo/store/index_file.h"

#include <gtest/gtest.h>

#include <functional>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo/store/object_codec.h"
#include "tests/support/corruption.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

Id TestId(uint64_t seed) { return Id::FromSpan(test::RandomBytes(Id::kSize, seed)); }

IndexEntry Entry(const Id& pack, uint64_t seed, uint32_t offset, BlobType type = BlobType::kData) {
  IndexEntry e;
  e.blob = TestId(seed);
  e.loc.pack = pack;
  e.loc.type = type;
  e.loc.flags = seed % 2 ? kBlobFlagZstd : 0;
  e.loc.offset = offset;
  e.loc.length = 100 + static_cast<uint32_t>(seed);
  e.loc.raw_length = 1000 + static_cast<uint32_t>(seed);
  return e;
}

// Three packs, entries grouped by pack.
std::vector<IndexEntry> ThreePacks() {
  std::vector<IndexEntry> out;
  uint64_t seed = 100;
  for (int p = 0; p < 3; ++p) {
    Id pack = TestId(p + 1);
    for (int i = 0; i < 2 + p; ++i) {
      out.push_back(Entry(pack, seed++, i * 200, i % 2 ? BlobType::kTree : BlobType::kData));
    }
  }
  return out;
}

// The index payload for `entries`, one group per pack, as index_file.h documents it.
Bytes Payload(const std::vector<std::pair<Id, std::vector<IndexEntry>>>& groups,
              uint8_t version = 1) {
  Bytes b;
  ByteWriter w(&b);
  w.U8(version);
  w.U8(0);
  w.U16(0);
  w.U32(static_cast<uint32_t>(groups.size()));
  for (const auto& [pack, entries] : groups) {
    w.Raw(pack.span());
    w.U32(static_cast<uint32_t>(entries.size()));
    for (const IndexEntry& e : entries) EncodeEntry(e, &w);
  }
  return b;
}

class IndexFileTest : public ::testing::Test {
 protected:
  // The entries of a file that replaces nothing.
  Result<std::vector<IndexEntry>> Decode(ByteSpan file) {
    ASSIGN_OR_RETURN(IndexFile f, DecodeIndexFile(key_, file, "index 1234"));
    EXPECT_TRUE(f.supersedes.empty() && f.removed.empty());
    return f.entries;
  }
  Status DecodePayload(ByteSpan payload) {
    return Decode(SealObject(key_, ObjectKind::kIndex, payload)).status();
  }
  SecretBytes key_ = SecretBytes::Random(kAeadKeySize);
};

TEST_F(IndexFileTest, EntriesOfSeveralPacksRoundTrip) {
  const std::vector<IndexEntry> entries = ThreePacks();
  Bytes file = EncodeIndexFile(key_, entries);
  Result<std::vector<IndexEntry>> got = Decode(file);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, entries);
}

TEST_F(IndexFileTest, PackIdIsStoredOncePerGroup) {
  const std::vector<IndexEntry> entries = ThreePacks();  // 2 + 3 + 4 entries
  Result<Bytes> payload =
      OpenObject(key_, ObjectKind::kIndex, EncodeIndexFile(key_, entries), "index");
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(payload->size(), 8 + 3 * (32 + 4) + 9 * kEntryWireSize);
  EXPECT_EQ((*payload)[4], 3) << "pack count";
  EXPECT_EQ(*payload, Payload({{entries[0].loc.pack, {entries.begin(), entries.begin() + 2}},
                               {entries[2].loc.pack, {entries.begin() + 2, entries.begin() + 5}},
                               {entries[5].loc.pack, {entries.begin() + 5, entries.end()}}}));
}

TEST_F(IndexFileTest, InterleavedPacksKeepTheirOrder) {
  const Id a = TestId(1), b = TestId(2);
  const std::vector<IndexEntry> entries = {Entry(a, 10, 0), Entry(b, 11, 0), Entry(a, 12, 111)};
  Result<std::vector<IndexEntry>> got = Decode(EncodeIndexFile(key_, entries));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, entries);
}

TEST_F(IndexFileTest, EmptyIndexRoundTrips) {
  Result<std::vector<IndexEntry>> got = Decode(EncodeIndexFile(key_, std::vector<IndexEntry>{}));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->empty());
}

TEST_F(IndexFileTest, IndexFileIsAnIndexObject) {
  Bytes file = EncodeIndexFile(key_, ThreePacks());
  EXPECT_TRUE(CheckObjectHeader(ObjectKind::kIndex, file, "index").ok());
  Bytes as_snapshot = SealObject(key_, ObjectKind::kSnapshot, Payload({}));
  EXPECT_EQ(Decode(as_snapshot).status().code(), StatusCode::kCorruption);
  SecretBytes other = SecretBytes::Random(kAeadKeySize);
  EXPECT_EQ(DecodeIndexFile(other, file, "index").status().code(), StatusCode::kCorruption);
}

TEST_F(IndexFileTest, EveryByteFlipOfTheFileFails) {
  test::ExpectEveryFlipFails(
      EncodeIndexFile(key_, ThreePacks()), [&](ByteSpan in) { return Decode(in).status(); },
      [](size_t pos, uint8_t value) {
        return pos == 4 && value > kObjectVersion ? StatusCode::kUnsupportedVersion
                                                  : StatusCode::kCorruption;
      });
}

TEST_F(IndexFileTest, EveryTruncationOfTheFileFails) {
  test::ExpectEveryTruncationFails(EncodeIndexFile(key_, ThreePacks()),
                                   [&](ByteSpan in) { return Decode(in).status(); });
}

TEST_F(IndexFileTest, EveryTruncationOfThePayloadFails) {
  // Sealed properly (a writer with the key), but cut short.
  const std::vector<IndexEntry> e = ThreePacks();
  const Bytes payload = Payload({{e[0].loc.pack, {e.begin(), e.begin() + 2}},
                                 {e[2].loc.pack, {e.begin() + 2, e.begin() + 5}}});
  ASSERT_TRUE(DecodePayload(payload).ok());
  for (size_t n = 0; n < payload.size(); ++n) {
    EXPECT_EQ(DecodePayload(ByteSpan(payload).first(n)).code(), StatusCode::kCorruption) << n;
  }
}

TEST_F(IndexFileTest, NewerVersionIsUnsupported) {
  EXPECT_EQ(DecodePayload(Payload({}, 3)).code(), StatusCode::kUnsupportedVersion);
  EXPECT_EQ(DecodePayload(Payload({}, 0)).code(), StatusCode::kCorruption);
}

// A file that replaces others (consolidation, repair) is version 2: its entries, the files it
// replaces and the entries it removes round-trip; one that replaces nothing stays version 1.
IndexFile Replacing() {
  return IndexFile{ThreePacks(),
                   {TestId(40), TestId(41)},
                   {RemovedEntry{TestId(50), TestId(51)}, RemovedEntry{TestId(52), TestId(51)}}};
}

TEST_F(IndexFileTest, AReplacingFileRoundTripsAsVersion2) {
  const Bytes file = EncodeIndexFile(key_, Replacing());
  Result<IndexFile> got = DecodeIndexFile(key_, file, "index");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, Replacing());
  Result<Bytes> payload = OpenObject(key_, ObjectKind::kIndex, file, "index");
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ((*payload)[0], 2) << "version";
  EXPECT_EQ(payload->size(), 8 + 3 * (32 + 4) + 9 * kEntryWireSize + 4 + 2 * 32 + 4 + 2 * 64);

  // Removals alone (a repair that found no good pack) round-trip too.
  const IndexFile only_removed{{}, {TestId(40)}, {RemovedEntry{TestId(50), TestId(51)}}};
  got = DecodeIndexFile(key_, EncodeIndexFile(key_, only_removed), "index");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, only_removed);

  payload = OpenObject(key_, ObjectKind::kIndex, EncodeIndexFile(key_, ThreePacks()), "index");
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ((*payload)[0], 1) << "a file that replaces nothing stays readable by format 2";
}

TEST_F(IndexFileTest, EveryFlipAndTruncationOfAVersion2FileFails) {
  const Bytes file = EncodeIndexFile(key_, Replacing());
  auto decode = [&](ByteSpan in) { return DecodeIndexFile(key_, in, "index").status(); };
  test::ExpectEveryFlipFails(file, decode, [](size_t pos, uint8_t value) {
    return pos == 4 && value > kObjectVersion ? StatusCode::kUnsupportedVersion
                                              : StatusCode::kCorruption;
  });
  test::ExpectEveryTruncationFails(file, decode);
  // Sealed properly but cut short anywhere in the lists.
  const Bytes payload = *OpenObject(key_, ObjectKind::kIndex, file, "index");
  for (size_t n = 8 + 3 * (32 + 4) + 9 * kEntryWireSize; n < payload.size(); ++n) {
    EXPECT_EQ(DecodePayload(ByteSpan(payload).first(n)).code(), StatusCode::kCorruption) << n;
  }
}

TEST_F(IndexFileTest, AVersion2FileThatReplacesNothingIsCorruption) {
  Bytes payload = Payload({}, 2);
  ByteWriter w(&payload);
  w.U32(0);
  w.U32(0);
  EXPECT_EQ(DecodePayload(payload).code(), StatusCode::kCorruption);
}

TEST_F(IndexFileTest, MalformedPayloadsAreCorruption) {
  const Id pack = TestId(7);
  const Bytes good = Payload({{pack, {Entry(pack, 1, 0), Entry(pack, 2, 101)}}});
  ASSERT_TRUE(DecodePayload(good).ok());
  const size_t entry0 = 8 + 32 + 4;
  const std::vector<std::pair<std::string, std::function<void(Bytes*)>>> edits = {
      {"reserved byte", [](Bytes* p) { (*p)[2] = 1; }},
      {"pack count too large", [](Bytes* p) { (*p)[4] = 2; }},
      {"entry count too large", [](Bytes* p) { (*p)[8 + 32] = 3; }},
      {"entry count huge", [](Bytes* p) { (*p)[8 + 32 + 3] = 0xff; }},
      {"unknown blob type", [=](Bytes* p) { (*p)[entry0] = 9; }},
      {"unknown blob flag", [=](Bytes* p) { (*p)[entry0 + 1] = 0x80; }},
      {"trailing byte", [](Bytes* p) { p->push_back(0); }},
  };
  for (const auto& [name, edit] : edits) {
    Bytes bad = good;
    edit(&bad);
    EXPECT_EQ(DecodePayload(bad).code(), StatusCode::kCorruption) << name;
  }
}

}  // namespace
}  // namespace repo
