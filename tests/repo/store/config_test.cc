// Repository config (repo/store/config.h): validation, the payload codec, and the sealed config
// file.
#include "repo/store/config.h"

#include <gtest/gtest.h>

#include "crypto/aead.h"
#include "repo/store/object_codec.h"
#include "tests/support/corruption.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

RepositoryConfig SmallConfig() {
  RepositoryConfig c;
  c.id = Id::FromSpan(test::RandomBytes(Id::kSize, 1));
  c.chunker = test::SmallChunker();
  c.pack_size = test::kSmallPackSize;
  c.zstd_level = 5;
  c.created_unix = 1700000000;
  return c;
}

void ExpectSameConfig(const RepositoryConfig& a, const RepositoryConfig& b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.chunker.min_size, b.chunker.min_size);
  EXPECT_EQ(a.chunker.avg_size, b.chunker.avg_size);
  EXPECT_EQ(a.chunker.max_size, b.chunker.max_size);
  EXPECT_EQ(a.pack_size, b.pack_size);
  EXPECT_EQ(a.zstd_level, b.zstd_level);
  EXPECT_EQ(a.created_unix, b.created_unix);
}

void PutU32(Bytes* b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*b)[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

constexpr size_t kPackSizeOffset = 4 + 32 + 12;

TEST(RepositoryConfigTest, DefaultsAndSmallConfigAreValid) {
  RepositoryConfig d;
  d.chunker = ChunkerParams::Default();
  EXPECT_TRUE(d.Validate().ok()) << d.Validate().ToString();
  EXPECT_TRUE(SmallConfig().Validate().ok());
}

TEST(RepositoryConfigTest, ValidateRefusesOutOfRangeFields) {
  RepositoryConfig c = SmallConfig();
  c.pack_size = (1 << 20) - 1;
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c.pack_size = (1u << 30) + 1;
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c = SmallConfig();
  c.chunker.max_size = 1 << 20;  // more than half the 1 MiB pack
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c = SmallConfig();
  c.chunker.avg_size = 100000;  // not a power of two
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c = SmallConfig();
  c.zstd_level = -1;
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c.zstd_level = 20;
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);
  c.zstd_level = 0;
  EXPECT_TRUE(c.Validate().ok());
}

TEST(RepositoryConfigTest, PayloadRoundTrips) {
  RepositoryConfig c = SmallConfig();
  Bytes payload = c.Encode();
  EXPECT_EQ(payload.size(), 4u + 32 + 4 * 5 + 8);
  Result<RepositoryConfig> got = RepositoryConfig::Decode(payload);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSameConfig(*got, c);
}

TEST(RepositoryConfigTest, EveryTruncationAndTrailingBytesFail) {
  Bytes payload = SmallConfig().Encode();
  test::ExpectEveryTruncationFails(
      payload, [](ByteSpan in) { return RepositoryConfig::Decode(in).status(); });
  payload.push_back(0);
  EXPECT_EQ(RepositoryConfig::Decode(payload).status().code(), StatusCode::kCorruption);
}

TEST(RepositoryConfigTest, NewerFormatVersionIsUnsupported) {
  Bytes payload = SmallConfig().Encode();
  PutU32(&payload, 0, RepositoryConfig::kFormatVersion + 1);
  EXPECT_EQ(RepositoryConfig::Decode(payload).status().code(), StatusCode::kUnsupportedVersion);
  // Even when the rest is in a layout this binary cannot read.
  payload.resize(10);
  EXPECT_EQ(RepositoryConfig::Decode(payload).status().code(), StatusCode::kUnsupportedVersion);
  payload = SmallConfig().Encode();
  PutU32(&payload, 0, 0);
  EXPECT_EQ(RepositoryConfig::Decode(payload).status().code(), StatusCode::kCorruption);
}

TEST(RepositoryConfigTest, InvalidStoredFieldsAreCorruption) {
  Bytes payload = SmallConfig().Encode();
  PutU32(&payload, kPackSizeOffset, 0);
  EXPECT_EQ(RepositoryConfig::Decode(payload).status().code(), StatusCode::kCorruption);
  payload = SmallConfig().Encode();
  PutU32(&payload, kPackSizeOffset + 4, 99);  // zstd level
  EXPECT_EQ(RepositoryConfig::Decode(payload).status().code(), StatusCode::kCorruption);
}

class SealedConfigTest : public ::testing::Test {
 protected:
  Status OpenConfig(ByteSpan file) {
    auto payload = OpenObject(key_, ObjectKind::kConfig, file, "config");
    if (!payload.ok()) return payload.status();
    return RepositoryConfig::Decode(*payload).status();
  }
  SecretBytes key_ = SecretBytes::Random(kAeadKeySize);
};

TEST_F(SealedConfigTest, RoundTrips) {
  Bytes file = SealObject(key_, ObjectKind::kConfig, SmallConfig().Encode());
  auto payload = OpenObject(key_, ObjectKind::kConfig, file, "config");
  ASSERT_TRUE(payload.ok());
  ExpectSameConfig(*RepositoryConfig::Decode(*payload), SmallConfig());
}

TEST_F(SealedConfigTest, NewerPayloadVersionIsUnsupported) {
  Bytes payload = SmallConfig().Encode();
  PutU32(&payload, 0, RepositoryConfig::kFormatVersion + 1);
  Bytes file = SealObject(key_, ObjectKind::kConfig, payload);
  EXPECT_EQ(OpenConfig(file).code(), StatusCode::kUnsupportedVersion);
}

TEST_F(SealedConfigTest, EveryByteFlipAndTruncationFails) {
  Bytes file = SealObject(key_, ObjectKind::kConfig, SmallConfig().Encode());
  test::ExpectEveryFlipFails(
      file, [&](ByteSpan in) { return OpenConfig(in); },
      [](size_t pos, uint8_t value) {
        return pos == 4 && value > kObjectVersion ? StatusCode::kUnsupportedVersion
                                                  : StatusCode::kCorruption;
      });
  test::ExpectEveryTruncationFails(file, [&](ByteSpan in) { return OpenConfig(in); });
}

}  // namespace
}  // namespace repo
