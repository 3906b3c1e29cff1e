#include "base/bytes.h"

#include <gtest/gtest.h>

#include "base/id.h"

namespace repo {
namespace {

TEST(BytesTest, HexRoundTrip) {
  Bytes b = {0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(ToHex(b), "0001abff");
  EXPECT_EQ(*FromHex("0001ABff"), b);
  EXPECT_FALSE(FromHex("abc").has_value());
  EXPECT_FALSE(FromHex("zz").has_value());
}

TEST(BytesTest, WriterReaderRoundTrip) {
  Bytes buf;
  ByteWriter w(&buf);
  w.U8(7);
  w.U16(0x1234);
  w.U32(0xdeadbeef);
  w.U64(0x0102030405060708ull);
  w.String("héllo");
  EXPECT_EQ(buf[1], 0x34);  // little-endian
  ByteReader r(buf);
  uint8_t a;
  uint16_t b;
  uint32_t c;
  uint64_t d;
  std::string s;
  ASSERT_TRUE(r.U8(&a) && r.U16(&b) && r.U32(&c) && r.U64(&d) && r.String(&s));
  EXPECT_EQ(a, 7);
  EXPECT_EQ(b, 0x1234);
  EXPECT_EQ(c, 0xdeadbeef);
  EXPECT_EQ(d, 0x0102030405060708ull);
  EXPECT_EQ(s, "héllo");
  EXPECT_TRUE(r.done());
}

TEST(BytesTest, ReaderRefusesTruncation) {
  Bytes buf;
  ByteWriter w(&buf);
  w.String("abcdef");
  for (size_t cut = 0; cut < buf.size(); ++cut) {
    ByteReader r(ByteSpan(buf).first(cut));
    std::string s;
    EXPECT_FALSE(r.String(&s)) << cut;
    EXPECT_EQ(r.position(), 0u);
  }
  ByteReader r(ByteSpan(buf).first(3));
  uint32_t v;
  EXPECT_FALSE(r.U32(&v));
}

TEST(IdTest, ParseHex) {
  Id id;
  id.data()[0] = 0xab;
  auto parsed = Id::ParseHex(id.Hex());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, id);
  EXPECT_EQ(id.ShortHex(), "ab000000");
  EXPECT_FALSE(Id::ParseHex("ab").has_value());
  EXPECT_TRUE(Id().IsZero());
  EXPECT_FALSE(id.IsZero());
}

}  // namespace
}  // namespace repo
