// Blob codec (repo/store/blob_codec.h): round trips, compression flags, and that a damaged, moved
// or retyped blob never decodes.
#include "repo/store/blob_codec.h"

#include <gtest/gtest.h>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "tests/support/corruption.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::CompressibleBytes;
using test::RandomBytes;

struct Sealed {
  Id id;
  EncodedBlob blob;
};

class BlobCodecTest : public ::testing::Test {
 protected:
  Sealed Encode(ByteSpan plain, BlobType type = BlobType::kData, int level = 3) {
    Id id = ComputeBlobId(keys_, type, plain);
    return {id, EncodeBlob(keys_, type, id, plain, level)};
  }
  Result<Bytes> Decode(const Sealed& s, BlobType type = BlobType::kData) {
    return DecodeBlob(keys_, type, s.id, s.blob.flags, s.blob.raw_length, s.blob.sealed);
  }

  MasterKeys keys_ = MasterKeys::Generate();
};

TEST_F(BlobCodecTest, CompressibleDataRoundTripsCompressed) {
  const Bytes plain = CompressibleBytes(100000, 1);
  Sealed s = Encode(plain);
  EXPECT_EQ(s.blob.flags, kBlobFlagZstd);
  EXPECT_EQ(s.blob.raw_length, plain.size());
  EXPECT_LT(s.blob.sealed.size(), plain.size() / 10);
  Result<Bytes> got = Decode(s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, plain);
}

TEST_F(BlobCodecTest, IncompressibleDataIsStoredAsIs) {
  const Bytes plain = RandomBytes(100000, 2);
  Sealed s = Encode(plain);
  EXPECT_EQ(s.blob.flags, 0);
  EXPECT_EQ(s.blob.raw_length, plain.size());
  EXPECT_EQ(s.blob.sealed.size(), plain.size() + kAeadOverhead);
  Result<Bytes> got = Decode(s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, plain);
}

TEST_F(BlobCodecTest, LevelZeroNeverCompresses) {
  const Bytes plain = CompressibleBytes(10000, 3);
  Sealed s = Encode(plain, BlobType::kData, /*level=*/0);
  EXPECT_EQ(s.blob.flags, 0);
  EXPECT_EQ(s.blob.sealed.size(), plain.size() + kAeadOverhead);
  EXPECT_EQ(*Decode(s), plain);
}

TEST_F(BlobCodecTest, EmptyBlobRoundTrips) {
  Sealed s = Encode({});
  EXPECT_EQ(s.blob.flags, 0);
  EXPECT_EQ(s.blob.raw_length, 0u);
  EXPECT_EQ(s.blob.sealed.size(), kAeadOverhead);
  Result<Bytes> got = Decode(s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->empty());
}

TEST_F(BlobCodecTest, TreeBlobRoundTripsAndIsNotADataBlob) {
  const Bytes plain = CompressibleBytes(5000, 4);
  Sealed s = Encode(plain, BlobType::kTree);
  EXPECT_EQ(*Decode(s, BlobType::kTree), plain);
  EXPECT_EQ(Decode(s, BlobType::kData).status().code(), StatusCode::kCorruption);
  Sealed d = Encode(plain, BlobType::kData);
  EXPECT_EQ(Decode(d, BlobType::kTree).status().code(), StatusCode::kCorruption);
}

TEST_F(BlobCodecTest, SameContentSealsDifferentlyButDecodesTheSame) {
  const Bytes plain = RandomBytes(1000, 5);
  Sealed a = Encode(plain), b = Encode(plain);
  EXPECT_EQ(a.id, b.id);
  EXPECT_NE(a.blob.sealed, b.blob.sealed);  // fresh nonce each time
  EXPECT_EQ(*Decode(a), *Decode(b));
}

TEST_F(BlobCodecTest, BlobSwappedWithAnotherFailsAuthentication) {
  Sealed a = Encode(RandomBytes(1000, 6));
  Sealed b = Encode(RandomBytes(1000, 7));
  Sealed swapped = a;
  swapped.blob.sealed = b.blob.sealed;  // a's id and lengths, b's bytes
  EXPECT_EQ(Decode(swapped).status().code(), StatusCode::kCorruption);
  swapped = b;
  swapped.id = a.id;  // b moved to a's id
  EXPECT_EQ(Decode(swapped).status().code(), StatusCode::kCorruption);
}

TEST_F(BlobCodecTest, BlobUnderWrongKeysFails) {
  Sealed s = Encode(RandomBytes(100, 8));
  MasterKeys other = MasterKeys::Generate();
  EXPECT_EQ(DecodeBlob(other, BlobType::kData, s.id, s.blob.flags, s.blob.raw_length, s.blob.sealed)
                .status()
                .code(),
            StatusCode::kCorruption);
}

TEST_F(BlobCodecTest, ContentNotMatchingItsIdFails) {
  // A blob sealed under a claimed id that is not the keyed hash of its content: authentication
  // passes (the writer had the key) but the re-hash catches it.
  const Bytes plain = RandomBytes(100, 9);
  Id wrong = KeyedHash(keys_.id_key, RandomBytes(100, 10));
  Sealed s{wrong, EncodeBlob(keys_, BlobType::kData, wrong, plain, 3)};
  Result<Bytes> got = Decode(s);
  EXPECT_EQ(got.status().code(), StatusCode::kCorruption);
  EXPECT_NE(got.status().message().find(wrong.ShortHex()), std::string::npos)
      << got.status().message();
}

// DecodeBlobs (a restore's batches, ids re-hashed together): the same plaintexts as DecodeBlob
// one by one, and one blob whose content is not its id fails the batch, naming that blob.
TEST_F(BlobCodecTest, BatchDecodesLikeOneByOneAndCatchesAContentNotMatchingItsId) {
  std::vector<Sealed> blobs;
  for (size_t i = 0; i < 12; ++i) {
    blobs.push_back(Encode(i % 2 ? CompressibleBytes(1000 * i + 1, i) : RandomBytes(3000 + i, i)));
  }
  auto batch = [&] {
    std::vector<SealedBlob> in;
    for (const Sealed& s : blobs)
      in.push_back({s.id, s.blob.flags, s.blob.raw_length, s.blob.sealed});
    return in;
  };
  std::vector<Bytes> plain;
  ASSERT_TRUE(DecodeBlobs(keys_, BlobType::kData, batch(), &plain).ok());
  ASSERT_EQ(plain.size(), blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i) EXPECT_EQ(plain[i], *Decode(blobs[i])) << i;

  Id wrong = KeyedHash(keys_.id_key, RandomBytes(100, 10));
  blobs[7] = Sealed{wrong, EncodeBlob(keys_, BlobType::kData, wrong, RandomBytes(100, 9), 3)};
  Status s = DecodeBlobs(keys_, BlobType::kData, batch(), &plain);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find(wrong.ShortHex()), std::string::npos) << s.message();
}

TEST_F(BlobCodecTest, WrongRecordedLengthOrFlagsFail) {
  for (const Bytes& plain : {CompressibleBytes(5000, 11), RandomBytes(5000, 12)}) {
    Sealed s = Encode(plain);
    for (uint32_t len : {0u, 4999u, 5001u, 1u << 31}) {
      Sealed bad = s;
      bad.blob.raw_length = len;
      EXPECT_EQ(Decode(bad).status().code(), StatusCode::kCorruption) << len;
    }
    Sealed bad = s;
    bad.blob.flags ^= kBlobFlagZstd;
    EXPECT_EQ(Decode(bad).status().code(), StatusCode::kCorruption);
  }
}

TEST_F(BlobCodecTest, EveryByteFlipFails) {
  for (const Bytes& plain : {CompressibleBytes(3000, 13), RandomBytes(3000, 14), Bytes{}}) {
    Sealed s = Encode(plain);
    test::ExpectEveryFlipFails(s.blob.sealed, [&](ByteSpan in) {
      return DecodeBlob(keys_, BlobType::kData, s.id, s.blob.flags, s.blob.raw_length, in).status();
    });
  }
}

TEST_F(BlobCodecTest, EveryTruncationFails) {
  for (const Bytes& plain : {CompressibleBytes(3000, 15), RandomBytes(3000, 16), Bytes{}}) {
    Sealed s = Encode(plain);
    test::ExpectEveryTruncationFails(s.blob.sealed, [&](ByteSpan in) {
      return DecodeBlob(keys_, BlobType::kData, s.id, s.blob.flags, s.blob.raw_length, in).status();
    });
  }
}

}  // namespace
}  // namespace repo
