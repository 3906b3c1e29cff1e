// The 46-byte entry shared by pack headers and index files (index/blob_location.h).
#include "index/blob_location.h"

#include <gtest/gtest.h>

namespace repo {
namespace {

IndexEntry SampleEntry() {
  IndexEntry e;
  for (size_t i = 0; i < Id::kSize; ++i) e.blob.data()[i] = static_cast<uint8_t>(i + 1);
  for (size_t i = 0; i < Id::kSize; ++i) e.loc.pack.data()[i] = static_cast<uint8_t>(0xa0 + i);
  e.loc.type = BlobType::kTree;
  e.loc.flags = kBlobFlagZstd;
  e.loc.offset = 0x01020304;
  e.loc.length = 0x0a0b0c0d;
  e.loc.raw_length = 0xfffffffe;
  return e;
}

TEST(BlobLocationTest, EntryWireFormIsDocumentedLayout) {
  const IndexEntry e = SampleEntry();
  Bytes b;
  ByteWriter w(&b);
  EncodeEntry(e, &w);
  ASSERT_EQ(b.size(), kEntryWireSize);
  EXPECT_EQ(b[0], 2);     // type
  EXPECT_EQ(b[1], 0x01);  // flags
  EXPECT_EQ(b[2], 1);     // blob id
  EXPECT_EQ(b[33], 32);
  EXPECT_EQ((Bytes{b.begin() + 34, b.begin() + 38}), (Bytes{4, 3, 2, 1}));  // offset, LE
  EXPECT_EQ((Bytes{b.begin() + 38, b.begin() + 42}), (Bytes{0x0d, 0x0c, 0x0b, 0x0a}));
  EXPECT_EQ((Bytes{b.begin() + 42, b.begin() + 46}), (Bytes{0xfe, 0xff, 0xff, 0xff}));

  ByteReader r(b);
  IndexEntry got;
  ASSERT_TRUE(DecodeEntry(&r, e.loc.pack, &got));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(got, e);
}

TEST(BlobLocationTest, DecodeTakesThePackFromTheCaller) {
  Bytes b;
  ByteWriter w(&b);
  EncodeEntry(SampleEntry(), &w);
  Id other;
  other.data()[0] = 7;
  ByteReader r(b);
  IndexEntry got;
  ASSERT_TRUE(DecodeEntry(&r, other, &got));
  EXPECT_EQ(got.loc.pack, other);
}

TEST(BlobLocationTest, TruncatedUnknownTypeOrFlagsAreRefused) {
  Bytes good;
  ByteWriter w(&good);
  EncodeEntry(SampleEntry(), &w);
  IndexEntry got;
  for (size_t n = 0; n < good.size(); ++n) {
    ByteReader r(ByteSpan(good).first(n));
    EXPECT_FALSE(DecodeEntry(&r, Id(), &got)) << n;
  }
  for (uint8_t type : {0, 3, 0xff}) {
    Bytes bad = good;
    bad[0] = type;
    ByteReader r(bad);
    EXPECT_FALSE(DecodeEntry(&r, Id(), &got)) << int{type};
  }
  for (uint8_t flags : {0x02, 0x80, 0xff}) {
    Bytes bad = good;
    bad[1] = flags;
    ByteReader r(bad);
    EXPECT_FALSE(DecodeEntry(&r, Id(), &got)) << int{flags};
  }
}

TEST(BlobLocationTest, KnownTypesAndNames) {
  EXPECT_TRUE(IsKnownBlobType(1));
  EXPECT_TRUE(IsKnownBlobType(2));
  EXPECT_FALSE(IsKnownBlobType(0));
  EXPECT_FALSE(IsKnownBlobType(3));
  EXPECT_EQ(BlobTypeName(BlobType::kData), "data");
  EXPECT_EQ(BlobTypeName(BlobType::kTree), "tree");
}

}  // namespace
}  // namespace repo
