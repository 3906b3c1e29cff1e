#include "crypto/secret.h"

#include <gtest/gtest.h>

#include <utility>

#include "crypto/master_keys.h"

namespace repo {
namespace {

TEST(SecretBytesTest, ZeroInitialised) {
  SecretBytes s(40);
  ASSERT_EQ(s.size(), 40u);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s.data()[i], 0) << i;
  EXPECT_TRUE(SecretBytes().empty());
  EXPECT_TRUE(SecretBytes(0).empty());
}

TEST(SecretBytesTest, RandomDiffers) {
  SecretBytes a = SecretBytes::Random(32), b = SecretBytes::Random(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_FALSE(a.Equals(b));
}

TEST(SecretBytesTest, CopyOfEquals) {
  SecretBytes a = SecretBytes::Random(32);
  SecretBytes b = SecretBytes::CopyOf(a.span());
  EXPECT_NE(a.data(), b.data());
  EXPECT_TRUE(a.Equals(b));
  b.data()[31] ^= 1;
  EXPECT_FALSE(a.Equals(b));
  EXPECT_TRUE(SecretBytes().Equals(SecretBytes()));
}

TEST(SecretBytesTest, EqualsRequiresSameSize) {
  SecretBytes a = SecretBytes::CopyOf(AsBytes("abcd"));
  SecretBytes b = SecretBytes::CopyOf(AsBytes("abc"));
  EXPECT_FALSE(a.Equals(b));
  EXPECT_FALSE(b.Equals(a));
}

TEST(SecretBytesTest, TruncateShrinksAndWipesTail) {
  SecretBytes s = SecretBytes::CopyOf(AsBytes("password\n"));
  s.Truncate(8);
  EXPECT_EQ(AsChars(s.span()), "password");
  EXPECT_EQ(s.data()[8], 0);  // still inside the allocation; the cut-off byte is wiped
  s.Truncate(0);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.data()[0], 0);
}

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  SecretBytes a = SecretBytes::CopyOf(AsBytes("secret"));
  const uint8_t* p = a.data();
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(AsChars(b.span()), "secret");

  SecretBytes c = SecretBytes::Random(8);
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(AsChars(c.span()), "secret");
}

TEST(MasterKeysTest, GenerateAndClone) {
  MasterKeys k = MasterKeys::Generate();
  EXPECT_EQ(k.enc_key.size(), 32u);
  EXPECT_EQ(k.id_key.size(), 32u);
  EXPECT_EQ(k.chunker_seed.size(), 32u);
  EXPECT_FALSE(k.enc_key.Equals(k.id_key));
  EXPECT_FALSE(k.id_key.Equals(k.chunker_seed));
  MasterKeys c = k.Clone();
  EXPECT_TRUE(c.enc_key.Equals(k.enc_key));
  EXPECT_TRUE(c.id_key.Equals(k.id_key));
  EXPECT_TRUE(c.chunker_seed.Equals(k.chunker_seed));
  EXPECT_NE(c.enc_key.data(), k.enc_key.data());
  EXPECT_FALSE(MasterKeys::Generate().enc_key.Equals(k.enc_key));
}

}  // namespace
}  // namespace repo
