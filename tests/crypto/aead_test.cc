#include "crypto/aead.h"

#include <gtest/gtest.h>

#include <string>

namespace repo {
namespace {

SecretBytes Key() { return SecretBytes::Random(kAeadKeySize); }

Bytes Text(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 7 + 3);
  return b;
}

TEST(AeadTest, RoundTrip) {
  SecretBytes key = Key();
  for (size_t n : {0u, 1u, 15u, 16u, 64u, 1000u, 65536u}) {
    Bytes pt = Text(n);
    Bytes sealed = Seal(key, pt, AsBytes("blob:data"));
    ASSERT_EQ(sealed.size(), n + kAeadOverhead);
    Result<Bytes> opened = Open(key, sealed, AsBytes("blob:data"));
    ASSERT_TRUE(opened.ok()) << n << ": " << opened.status().ToString();
    EXPECT_EQ(*opened, pt);
  }
}

TEST(AeadTest, EmptyPlaintextAndEmptyAd) {
  SecretBytes key = Key();
  Bytes sealed = Seal(key, {}, {});
  ASSERT_EQ(sealed.size(), kAeadOverhead);
  Result<Bytes> opened = Open(key, sealed, {});
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(opened->empty());
  EXPECT_FALSE(Open(key, sealed, AsBytes("x")).ok());
}

TEST(AeadTest, SealAppendKeepsPrefix) {
  SecretBytes key = Key();
  Bytes out = {1, 2, 3};
  SealAppend(key, AsBytes("hello"), {}, &out);
  ASSERT_EQ(out.size(), 3 + 5 + kAeadOverhead);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[2], 3);
  Result<Bytes> opened = Open(key, ByteSpan(out).subspan(3), {});
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(AsChars(*opened), "hello");
}

TEST(AeadTest, InputsMayPointIntoOutput) {
  SecretBytes key = Key();
  Bytes out = Text(100);
  Bytes original = out;
  // Both the plaintext and the associated data are views of *out, which SealAppend grows.
  SealAppend(key, ByteSpan(out).first(60), ByteSpan(out).subspan(60), &out);
  ASSERT_EQ(out.size(), 100 + 60 + kAeadOverhead);
  Result<Bytes> opened = Open(key, ByteSpan(out).subspan(100), ByteSpan(original).subspan(60));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, Bytes(original.begin(), original.begin() + 60));
}

TEST(AeadTest, SameInputSealsDifferently) {
  SecretBytes key = Key();
  Bytes a = Seal(key, AsBytes("same"), {}), b = Seal(key, AsBytes("same"), {});
  EXPECT_NE(a, b);
  EXPECT_NE(Bytes(a.begin(), a.begin() + kAeadNonceSize),
            Bytes(b.begin(), b.begin() + kAeadNonceSize));
}

TEST(AeadTest, WrongKeyFails) {
  Bytes sealed = Seal(Key(), AsBytes("secret"), {});
  Result<Bytes> opened = Open(Key(), sealed, {});
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(opened.status().IsCorruption());
  EXPECT_EQ(opened.status().message(), "authentication failed");
}

TEST(AeadTest, WrongAdFails) {
  SecretBytes key = Key();
  Bytes sealed = Seal(key, AsBytes("secret"), AsBytes("tree"));
  EXPECT_TRUE(Open(key, sealed, AsBytes("data")).status().IsCorruption());
  EXPECT_TRUE(Open(key, sealed, {}).status().IsCorruption());
  EXPECT_TRUE(Open(key, sealed, AsBytes("tree")).ok());
}

TEST(AeadTest, EveryByteFlipFails) {
  SecretBytes key = Key();
  Bytes sealed = Seal(key, Text(100), AsBytes("ad"));
  for (size_t i = 0; i < sealed.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      Bytes bad = sealed;
      bad[i] ^= mask;
      Result<Bytes> opened = Open(key, bad, AsBytes("ad"));
      ASSERT_FALSE(opened.ok()) << "flip at " << i;
      EXPECT_TRUE(opened.status().IsCorruption()) << i;
    }
  }
}

TEST(AeadTest, EveryTruncationFails) {
  SecretBytes key = Key();
  Bytes sealed = Seal(key, Text(100), {});
  for (size_t n = 0; n < sealed.size(); ++n) {
    Result<Bytes> opened = Open(key, ByteSpan(sealed).first(n), {});
    ASSERT_FALSE(opened.ok()) << "truncated to " << n;
    EXPECT_TRUE(opened.status().IsCorruption()) << n;
    EXPECT_EQ(opened.status().message(), "authentication failed");
  }
  Bytes longer = sealed;
  longer.push_back(0);
  EXPECT_TRUE(Open(key, longer, {}).status().IsCorruption());
}

}  // namespace
}  // namespace repo
