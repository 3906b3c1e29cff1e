// Pack format conformance: a pack written by PackWriter is read here by hand, following only the
// byte layout of docs/format.md ("Pack", "Pack header entry", "Blob"), without DecodePackHeader
// or DecodeBlob. If the writer drifts from the documented format, this fails.
//
//   blob_0 | ... | blob_n-1 | sealed header (L bytes) | L u32 LE | "RPAK"
//   header  = version u8 (1) | reserved[3] = 0 | count u32 LE | count x entry
//   entry   = type u8 | flags u8 | blob id (32) | offset u32 | length u32 | raw_length u32
//   blob    = nonce(24) || ciphertext || tag(16), AD = type u8 || blob id; zstd first if flags&1
#include <gtest/gtest.h>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo/store/blob_codec.h"
#include "repo/store/compression.h"
#include "repo/store/pack.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

// The blob id as docs/format.md defines it: keyed BLAKE2b-256 of the plaintext, with the
// personalization "repo tree" for tree blobs.
Id SpecBlobId(const MasterKeys& keys, BlobType type, ByteSpan plain) {
  return type == BlobType::kTree ? KeyedHashInDomain(keys.id_key, "repo tree", plain)
                                 : KeyedHash(keys.id_key, plain);
}

using test::CompressibleBytes;
using test::RandomBytes;

uint32_t U32At(ByteSpan b, size_t off) {
  return uint32_t{b[off]} | uint32_t{b[off + 1]} << 8 | uint32_t{b[off + 2]} << 16 |
         uint32_t{b[off + 3]} << 24;
}

struct Added {
  BlobType type;
  Bytes plain;
  Id id;
};

TEST(PackFormatTest, PackFollowsTheDocumentedLayout) {
  const MasterKeys keys = MasterKeys::Generate();
  std::vector<Added> added = {
      {BlobType::kData, CompressibleBytes(20000, 1), {}},
      {BlobType::kData, RandomBytes(5000, 2), {}},
      {BlobType::kTree, CompressibleBytes(3000, 3), {}},
      {BlobType::kTree, RandomBytes(100, 4), {}},
      {BlobType::kData, Bytes{}, {}},
      {BlobType::kData, CompressibleBytes(70000, 5), {}},
  };
  PackWriter writer(keys.enc_key);
  for (Added& a : added) {
    a.id = SpecBlobId(keys, a.type, a.plain);
    writer.Add(a.type, a.id, EncodeBlob(keys, a.type, a.id, a.plain, 3));
  }
  Result<FinishedPack> finished = writer.Finish();
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  const ByteSpan pack(finished->bytes);

  // The pack's name is the unkeyed hash of its bytes.
  EXPECT_EQ(finished->id, PlainHash(pack));

  // Trailer: L u32 LE, then the magic.
  ASSERT_GE(pack.size(), 8u);
  EXPECT_EQ(AsChars(pack.last(4)), "RPAK");
  const ByteSpan trailer = pack.last(8);
  const uint32_t sealed_len = U32At(trailer, 0);
  ASSERT_LE(sealed_len + 8u, pack.size());
  const size_t blob_area = pack.size() - 8 - sealed_len;

  // The sealed header is authenticated with the trailer as associated data.
  Result<Bytes> header = Open(keys.enc_key, pack.subspan(blob_area, sealed_len), trailer);
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  const ByteSpan h(*header);
  ASSERT_GE(h.size(), 8u);
  EXPECT_EQ(h[0], 1) << "header version";
  EXPECT_EQ(h[1], 0);
  EXPECT_EQ(h[2], 0);
  EXPECT_EQ(h[3], 0);
  const uint32_t count = U32At(h, 4);
  ASSERT_EQ(count, added.size());
  ASSERT_EQ(h.size(), 8 + 46 * size_t{count});

  uint64_t next_offset = 0;
  int compressed = 0;
  for (uint32_t i = 0; i < count; ++i) {
    SCOPED_TRACE("entry " + std::to_string(i));
    const ByteSpan e = h.subspan(8 + 46 * size_t{i}, 46);
    const uint8_t type = e[0], flags = e[1];
    const Id id = Id::FromSpan(e.subspan(2, 32));
    const uint32_t offset = U32At(e, 34), length = U32At(e, 38), raw_length = U32At(e, 42);

    EXPECT_EQ(type, static_cast<uint8_t>(added[i].type));
    EXPECT_EQ(id, added[i].id);
    EXPECT_EQ(raw_length, added[i].plain.size());
    EXPECT_EQ(flags & ~1, 0) << "only the zstd flag is defined";
    EXPECT_EQ(offset, next_offset) << "blobs tile the blob area from 0, in order";
    ASSERT_LE(uint64_t{offset} + length, blob_area);
    next_offset = uint64_t{offset} + length;

    // nonce(24) || ciphertext || tag(16), associated data = type || blob id.
    const ByteSpan sealed = pack.subspan(offset, length);
    ASSERT_GE(sealed.size(), 40u);
    Bytes ad = {type};
    ad.insert(ad.end(), id.span().begin(), id.span().end());
    Result<Bytes> opened = Open(keys.enc_key, sealed, ad);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Bytes plain;
    if (flags & 1) {
      ++compressed;
      Result<Bytes> d = Decompress(*opened, raw_length, "blob");
      ASSERT_TRUE(d.ok()) << d.status().ToString();
      plain = std::move(d).value();
    } else {
      EXPECT_EQ(opened->size(), raw_length);
      plain = std::move(opened).value();
    }
    EXPECT_EQ(SpecBlobId(keys, static_cast<BlobType>(type), plain), id);
    EXPECT_EQ(plain, added[i].plain);

    // The entry the writer reports matches what is on disk.
    const IndexEntry& reported = finished->entries[i];
    EXPECT_EQ(reported.blob, id);
    EXPECT_EQ(reported.loc.pack, finished->id);
    EXPECT_EQ(reported.loc.offset, offset);
    EXPECT_EQ(reported.loc.length, length);
    EXPECT_EQ(reported.loc.raw_length, raw_length);
    EXPECT_EQ(reported.loc.flags, flags);
  }
  EXPECT_EQ(next_offset, blob_area) << "nothing between the last blob and the header";
  EXPECT_EQ(compressed, 3) << "the three compressible blobs, and only they, are compressed";
}

}  // namespace
}  // namespace repo
