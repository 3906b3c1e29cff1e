#include "crypto/hash.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace repo {
namespace {

Bytes Text(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 31 + 1);
  return b;
}

TEST(HashTest, PlainHashKnownAnswers) {
  // BLAKE2b with a 32-byte digest (not a truncated BLAKE2b-512: the length is a parameter).
  EXPECT_EQ(PlainHash({}).Hex(),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_EQ(PlainHash(AsBytes("abc")).Hex(),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST(HashTest, KeyedHashKnownAnswer) {
  // Keyed BLAKE2b-256, key = 00 01 .. 1f, message "abc"; expected value from an independent
  // implementation: Python's hashlib.blake2b(b"abc", digest_size=32, key=bytes(range(32))).
  Bytes k(32);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  SecretBytes key = SecretBytes::CopyOf(k);
  EXPECT_EQ(KeyedHash(key, AsBytes("abc")).Hex(),
            "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f");
}

TEST(HashTest, KeyedDiffersFromUnkeyedAndByKey) {
  SecretBytes k1 = SecretBytes::Random(32), k2 = SecretBytes::Random(32);
  Bytes data = Text(1000);
  Id plain = PlainHash(data);
  Id a = KeyedHash(k1, data);
  EXPECT_NE(a, plain);
  EXPECT_NE(a, KeyedHash(k2, data));
  EXPECT_EQ(a, KeyedHash(k1, data));
  EXPECT_NE(a, KeyedHash(k1, ByteSpan(data).first(999)));
}

TEST(HashTest, IncrementalEqualsOneShot) {
  Bytes data = Text(10000);
  for (size_t piece : {1u, 7u, 128u, 129u, 4096u, 10000u}) {
    Hasher h;
    for (size_t off = 0; off < data.size(); off += piece) {
      h.Update(ByteSpan(data).subspan(off, std::min(piece, data.size() - off)));
    }
    EXPECT_EQ(h.Final(), PlainHash(data)) << piece;
  }
  Hasher empty;
  EXPECT_EQ(empty.Final(), PlainHash({}));
}

}  // namespace
}  // namespace repo
