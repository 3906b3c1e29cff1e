// Encrypted object envelope (repo/store/object_codec.h): round trips, the plaintext header checks,
// and that a damaged object never opens.
#include "repo/store/object_codec.h"

#include <gtest/gtest.h>

#include "crypto/aead.h"
#include "tests/support/corruption.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::CompressibleBytes;
using test::RandomBytes;

constexpr size_t kVersionByte = 4, kKindByte = 5, kFlagsByte = 6, kReservedByte = 7;

class ObjectCodecTest : public ::testing::Test {
 protected:
  Status OpenStatus(ByteSpan object, ObjectKind kind = ObjectKind::kSnapshot) {
    return OpenObject(key_, kind, object, "snapshot test").status();
  }
  SecretBytes key_ = SecretBytes::Random(kAeadKeySize);
};

// The code a decoder must give when the envelope's version byte reads `value`.
StatusCode ExpectedForEnvelopeByte(size_t pos, uint8_t value) {
  if (pos == kVersionByte && value > kObjectVersion) return StatusCode::kUnsupportedVersion;
  return StatusCode::kCorruption;
}

TEST_F(ObjectCodecTest, RoundTripsEveryKindAndSize) {
  for (ObjectKind kind : {ObjectKind::kConfig, ObjectKind::kIndex, ObjectKind::kSnapshot}) {
    for (const Bytes& payload :
         {Bytes{}, Bytes{42}, RandomBytes(10000, 1), CompressibleBytes(100000, 2)}) {
      Bytes object = SealObject(key_, kind, payload);
      ASSERT_GE(object.size(), kObjectHeaderSize + kAeadOverhead);
      EXPECT_EQ(AsChars(ByteSpan(object).first(4)), "RPOB");
      EXPECT_EQ(object[kVersionByte], kObjectVersion);
      EXPECT_EQ(object[kKindByte], static_cast<uint8_t>(kind));
      EXPECT_TRUE(CheckObjectHeader(kind, object, "obj").ok());
      Result<Bytes> got = OpenObject(key_, kind, object, "obj");
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, payload);
    }
  }
}

TEST_F(ObjectCodecTest, CompressesOnlyWhenItHelps) {
  const Bytes text = CompressibleBytes(100000, 3);
  Bytes object = SealObject(key_, ObjectKind::kSnapshot, text);
  EXPECT_EQ(object[kFlagsByte], 0x01);
  EXPECT_LT(object.size(), text.size() / 10);
  Bytes random = SealObject(key_, ObjectKind::kSnapshot, RandomBytes(10000, 4));
  EXPECT_EQ(random[kFlagsByte], 0x00);
}

TEST_F(ObjectCodecTest, WrongKindIsRefused) {
  Bytes object = SealObject(key_, ObjectKind::kIndex, AsBytes("index payload"));
  for (ObjectKind other : {ObjectKind::kConfig, ObjectKind::kSnapshot}) {
    EXPECT_EQ(OpenObject(key_, other, object, "obj").status().code(), StatusCode::kCorruption);
    EXPECT_EQ(CheckObjectHeader(other, object, "obj").code(), StatusCode::kCorruption);
  }
  // Relabelling the kind in the clear header breaks authentication too.
  object[kKindByte] = static_cast<uint8_t>(ObjectKind::kSnapshot);
  EXPECT_EQ(OpenStatus(object).code(), StatusCode::kCorruption);
}

TEST_F(ObjectCodecTest, NewerVersionIsUnsupportedEvenWithoutTheKey) {
  Bytes object = SealObject(key_, ObjectKind::kSnapshot, AsBytes("payload"));
  object[kVersionByte] = 2;
  Status s = CheckObjectHeader(ObjectKind::kSnapshot, object, "snapshot 1234");
  EXPECT_EQ(s.code(), StatusCode::kUnsupportedVersion);
  EXPECT_NE(s.message().find("snapshot 1234"), std::string::npos) << s.message();
  EXPECT_EQ(OpenStatus(object).code(), StatusCode::kUnsupportedVersion);
  SecretBytes other = SecretBytes::Random(kAeadKeySize);
  EXPECT_EQ(OpenObject(other, ObjectKind::kSnapshot, object, "x").status().code(),
            StatusCode::kUnsupportedVersion);
  object[kVersionByte] = 0;
  EXPECT_EQ(OpenStatus(object).code(), StatusCode::kCorruption);
}

TEST_F(ObjectCodecTest, UnknownFlagsAndReservedBytesAreRefused) {
  Bytes object = SealObject(key_, ObjectKind::kSnapshot, AsBytes("payload"));
  Bytes bad = object;
  bad[kFlagsByte] |= 0x02;
  EXPECT_EQ(CheckObjectHeader(ObjectKind::kSnapshot, bad, "x").code(), StatusCode::kCorruption);
  bad = object;
  bad[kReservedByte] = 1;
  EXPECT_EQ(CheckObjectHeader(ObjectKind::kSnapshot, bad, "x").code(), StatusCode::kCorruption);
}

TEST_F(ObjectCodecTest, WrongKeyFails) {
  Bytes object = SealObject(key_, ObjectKind::kSnapshot, AsBytes("payload"));
  SecretBytes other = SecretBytes::Random(kAeadKeySize);
  EXPECT_EQ(OpenObject(other, ObjectKind::kSnapshot, object, "x").status().code(),
            StatusCode::kCorruption);
}

TEST_F(ObjectCodecTest, EveryByteFlipFails) {
  for (const Bytes& payload : {RandomBytes(700, 5), CompressibleBytes(20000, 6), Bytes{}}) {
    test::ExpectEveryFlipFails(
        SealObject(key_, ObjectKind::kSnapshot, payload),
        [&](ByteSpan in) { return OpenStatus(in); }, ExpectedForEnvelopeByte);
  }
}

TEST_F(ObjectCodecTest, EveryTruncationFails) {
  for (const Bytes& payload : {RandomBytes(700, 7), CompressibleBytes(20000, 8), Bytes{}}) {
    test::ExpectEveryTruncationFails(SealObject(key_, ObjectKind::kSnapshot, payload),
                                     [&](ByteSpan in) { return OpenStatus(in); });
  }
}

}  // namespace
}  // namespace repo
