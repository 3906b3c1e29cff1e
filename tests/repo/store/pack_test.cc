// Pack codec (repo/store/pack.h): PackWriter output decodes to what was added, and DecodePackHeader
// refuses every damaged or hand-altered header.
#include "repo/store/pack.h"

#include <gtest/gtest.h>

#include <functional>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/corruption.h"
#include "tests/support/faulty_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::CompressibleBytes;
using test::RandomBytes;

constexpr size_t kFixedHeader = 8;  // version, reserved[3], count

uint32_t GetU32(ByteSpan b, size_t off) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | b[off + i];
  return v;
}
void PutU32(Bytes* b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*b)[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

class PackTest : public ::testing::Test {
 protected:
  // Adds `n` blobs alternating data/tree and compressible/random, then finishes the pack.
  FinishedPack Build(int n, size_t blob_size = 2000) {
    PackWriter w(keys_.enc_key);
    for (int i = 0; i < n; ++i) {
      Bytes plain = i % 2 ? RandomBytes(blob_size + i, i) : CompressibleBytes(blob_size + i, i);
      BlobType type = i % 3 == 2 ? BlobType::kTree : BlobType::kData;
      Id id = KeyedHash(keys_.id_key, plain);
      w.Add(type, id, EncodeBlob(keys_, type, id, plain, 3));
    }
    Result<FinishedPack> pack = w.Finish();
    EXPECT_TRUE(pack.ok()) << pack.status().ToString();
    return pack.ok() ? std::move(pack).value() : FinishedPack{};
  }

  Result<std::vector<IndexEntry>> Decode(const FinishedPack& p, ByteSpan bytes) {
    return DecodePackHeader(keys_.enc_key, p.id, bytes, bytes.size());
  }

  // The pack with its header opened, changed by `edit`, and sealed again under a matching
  // trailer: what a writer holding the key could produce.
  Bytes Reseal(const Bytes& pack, const std::function<void(Bytes*)>& edit) {
    ByteSpan all(pack);
    ByteSpan trailer = all.last(kPackTrailerSize);
    const uint32_t sealed_len = GetU32(trailer, 0);
    const size_t blob_area = pack.size() - kPackTrailerSize - sealed_len;
    Result<Bytes> header = Open(keys_.enc_key, all.subspan(blob_area, sealed_len), trailer);
    EXPECT_TRUE(header.ok());
    Bytes h = header.ok() ? *header : Bytes{};
    edit(&h);
    Bytes new_trailer;
    ByteWriter tw(&new_trailer);
    tw.U32(static_cast<uint32_t>(h.size() + kAeadOverhead));
    tw.Raw(AsBytes("RPAK"));
    Bytes out(pack.begin(), pack.begin() + blob_area);
    SealAppend(keys_.enc_key, h, new_trailer, &out);
    out.insert(out.end(), new_trailer.begin(), new_trailer.end());
    return out;
  }

  StatusCode DecodeCode(const Bytes& bytes) {
    return DecodePackHeader(keys_.enc_key, PlainHash(bytes), bytes, bytes.size()).status().code();
  }

  MasterKeys keys_ = MasterKeys::Generate();
};

TEST_F(PackTest, FinishedPackDecodesToItsEntries) {
  FinishedPack p = Build(7);
  ASSERT_EQ(p.entries.size(), 7u);
  EXPECT_EQ(p.id, PlainHash(p.bytes));
  for (const IndexEntry& e : p.entries) EXPECT_EQ(e.loc.pack, p.id);
  Result<std::vector<IndexEntry>> got = Decode(p, p.bytes);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, p.entries);
}

TEST_F(PackTest, WriterIsEmptyAndReusableAfterFinish) {
  PackWriter w(keys_.enc_key);
  Bytes plain = RandomBytes(100, 1);
  Id id = KeyedHash(keys_.id_key, plain);
  w.Add(BlobType::kData, id, EncodeBlob(keys_, BlobType::kData, id, plain, 3));
  EXPECT_EQ(w.count(), 1u);
  EXPECT_EQ(w.size(), 100 + kAeadOverhead);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(w.count(), 0u);
  EXPECT_EQ(w.size(), 0u);
  w.Add(BlobType::kData, id, EncodeBlob(keys_, BlobType::kData, id, plain, 3));
  Result<FinishedPack> second = w.Finish();
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->entries.size(), 1u);
  EXPECT_EQ(second->entries[0].loc.offset, 0u);
}

TEST_F(PackTest, PackWithoutBlobsDecodesEmpty) {
  PackWriter w(keys_.enc_key);
  Result<FinishedPack> p = w.Finish();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->bytes.size(), kFixedHeader + kAeadOverhead + kPackTrailerSize);
  Result<std::vector<IndexEntry>> got = Decode(*p, p->bytes);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
}

TEST_F(PackTest, EveryByteFlipOfHeaderOrTrailerFails) {
  FinishedPack p = Build(5);
  const size_t sealed_len = GetU32(p.bytes, p.bytes.size() - 8);
  std::vector<size_t> positions;
  for (size_t i = p.bytes.size() - kPackTrailerSize - sealed_len; i < p.bytes.size(); ++i) {
    positions.push_back(i);
  }
  test::ExpectEveryFlipFails(
      p.bytes, [&](ByteSpan in) { return Decode(p, in).status(); }, test::AlwaysCorruption,
      positions);
}

TEST_F(PackTest, EveryTruncationFails) {
  FinishedPack p = Build(5, 300);
  test::ExpectEveryTruncationFails(p.bytes, [&](ByteSpan in) { return Decode(p, in).status(); });
}

TEST_F(PackTest, ShortTailAsksForWhatItNeeds) {
  FinishedPack p = Build(5);
  const size_t sealed_len = GetU32(p.bytes, p.bytes.size() - 8);
  const size_t need = sealed_len + kPackTrailerSize;
  for (size_t tail : {size_t{8}, size_t{9}, need - 1}) {
    size_t needed = 0;
    auto got = DecodePackHeader(keys_.enc_key, p.id, ByteSpan(p.bytes).last(tail), p.bytes.size(),
                                &needed);
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << tail;
    EXPECT_EQ(needed, need) << tail;
  }
  auto got = DecodePackHeader(keys_.enc_key, p.id, ByteSpan(p.bytes).last(need), p.bytes.size());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, p.entries);
  // A tail longer than the pack it claims to end is nonsense.
  EXPECT_EQ(DecodePackHeader(keys_.enc_key, p.id, p.bytes, p.bytes.size() - 1).status().code(),
            StatusCode::kCorruption);
}

TEST_F(PackTest, ResealedUnchangedHeaderStillDecodes) {
  FinishedPack p = Build(4);
  EXPECT_EQ(DecodeCode(Reseal(p.bytes, [](Bytes*) {})), StatusCode::kOk);
}

TEST_F(PackTest, NewerHeaderVersionIsUnsupported) {
  FinishedPack p = Build(4);
  EXPECT_EQ(DecodeCode(Reseal(p.bytes, [](Bytes* h) { (*h)[0] = 2; })),
            StatusCode::kUnsupportedVersion);
  EXPECT_EQ(DecodeCode(Reseal(p.bytes, [](Bytes* h) { (*h)[0] = 0; })), StatusCode::kCorruption);
}

TEST_F(PackTest, HandAlteredHeadersAreCorruption) {
  FinishedPack p = Build(4);
  const size_t e0 = kFixedHeader, e1 = kFixedHeader + kEntryWireSize;  // first two entries
  const std::vector<std::pair<std::string, std::function<void(Bytes*)>>> edits = {
      {"reserved byte 1", [](Bytes* h) { (*h)[1] = 1; }},
      {"reserved byte 3", [](Bytes* h) { (*h)[3] = 0x80; }},
      {"count + 1", [](Bytes* h) { PutU32(h, 4, 5); }},
      {"count - 1", [](Bytes* h) { PutU32(h, 4, 3); }},
      {"huge count", [](Bytes* h) { PutU32(h, 4, kMaxPackEntries + 1); }},
      {"last entry dropped",
       [](Bytes* h) {
         PutU32(h, 4, 3);
         h->resize(h->size() - kEntryWireSize);
       }},
      {"trailing byte", [](Bytes* h) { h->push_back(0); }},
      {"unknown blob type", [=](Bytes* h) { (*h)[e1] = 3; }},
      {"blob type 0", [=](Bytes* h) { (*h)[e0] = 0; }},
      {"unknown blob flag", [=](Bytes* h) { (*h)[e0 + 1] |= 0x02; }},
      {"offset moved", [=](Bytes* h) { PutU32(h, e1 + 34, GetU32(*h, e1 + 34) + 1); }},
      {"first offset not 0", [=](Bytes* h) { PutU32(h, e0 + 34, 1); }},
      {"length grown", [=](Bytes* h) { PutU32(h, e0 + 38, GetU32(*h, e0 + 38) + 1); }},
      {"lengths shifted between blobs",  // still tiles, but blob 0 shorter than a sealed box
       [=](Bytes* h) {
         uint32_t len0 = GetU32(*h, e0 + 38);
         PutU32(h, e0 + 38, 39);
         PutU32(h, e1 + 34, 39);
         PutU32(h, e1 + 38, GetU32(*h, e1 + 38) + len0 - 39);
       }},
  };
  for (const auto& [name, edit] : edits) {
    EXPECT_EQ(DecodeCode(Reseal(p.bytes, edit)), StatusCode::kCorruption) << name;
  }
}

TEST_F(PackTest, HeaderUnderAnotherKeyFails) {
  FinishedPack p = Build(3);
  MasterKeys other = MasterKeys::Generate();
  EXPECT_EQ(DecodePackHeader(other.enc_key, p.id, p.bytes, p.bytes.size()).status().code(),
            StatusCode::kCorruption);
}

TEST_F(PackTest, ReadPackHeaderReadsOnceForSmallHeaders) {
  MemoryBackend base;
  test::FaultyBackend counting(base);
  FinishedPack p = Build(10);
  ASSERT_TRUE(base.Write({FileType::kPack, p.id.Hex()}, p.bytes).ok());
  Result<std::vector<IndexEntry>> got = ReadPackHeader(counting, keys_.enc_key, p.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, p.entries);
  EXPECT_EQ(counting.counts().reads, 1u);
}

TEST_F(PackTest, ReadPackHeaderOfALargeHeaderTakesAtMostTwoReads) {
  MemoryBackend base;
  test::FaultyBackend counting(base);
  // 12000 empty blobs: a 550 KB header, more than any first guess at the tail should be.
  PackWriter w(keys_.enc_key);
  const Id id = KeyedHash(keys_.id_key, {});
  for (int i = 0; i < 12000; ++i)
    w.Add(BlobType::kData, id, EncodeBlob(keys_, BlobType::kData, id, {}, 3));
  Result<FinishedPack> p = w.Finish();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(base.Write({FileType::kPack, p->id.Hex()}, p->bytes).ok());
  Result<std::vector<IndexEntry>> got = ReadPackHeader(counting, keys_.enc_key, p->id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, p->entries);
  EXPECT_LE(counting.counts().reads, 2u);
}

TEST_F(PackTest, ReadPackHeaderOfMissingOrTinyPack) {
  MemoryBackend base;
  Id missing = PlainHash(AsBytes("missing"));
  EXPECT_EQ(ReadPackHeader(base, keys_.enc_key, missing).status().code(), StatusCode::kNotFound);
  Bytes tiny = {'R', 'P', 'A', 'K'};
  Id tiny_id = PlainHash(tiny);
  ASSERT_TRUE(base.Write({FileType::kPack, tiny_id.Hex()}, tiny).ok());
  EXPECT_EQ(ReadPackHeader(base, keys_.enc_key, tiny_id).status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace repo
