#include "crypto/hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "crypto/blake2b_lanes.h"

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

// Batches of every size up to 40 with lengths around block boundaries and of whole chunks: each
// id must equal libsodium's one-at-a-time KeyedHash, wherever it sits in the batch.
TEST(HashTest, KeyedHashManyEqualsKeyedHash) {
  SecretBytes key = SecretBytes::Random(32);
  std::mt19937_64 rng(7);
  Bytes pool = Text(140000);
  const std::vector<size_t> edges = {0, 1, 8, 127, 128, 129, 255, 256, 257, 384, 1000, 4096, 65536};
  for (size_t n = 1; n <= 40; ++n) {
    std::vector<ByteSpan> data;
    for (size_t i = 0; i < n; ++i) {
      size_t len = (i + n) % 3 == 0 ? edges[(i * 7 + n) % edges.size()] : rng() % 70000;
      data.push_back(ByteSpan(pool).subspan(rng() % 1000, len));
    }
    std::vector<Id> ids(n);
    KeyedHashMany(key, data, ids);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(ids[i], KeyedHash(key, data[i]))
          << "batch of " << n << ", message " << i << " of " << data[i].size() << " bytes";
    }
  }
}

TEST(HashTest, LanesEqualKeyedHashForEqualAndSkewedLengths) {
  if (!Blake2bLanesAvailable()) GTEST_SKIP() << "this CPU has no AVX-512";
  SecretBytes key = SecretBytes::Random(32);
  Bytes pool = Text(300000);
  // Eight equal messages (every lane ends together), then one long and many short ones (one lane
  // runs on alone), then a single message.
  std::vector<std::vector<ByteSpan>> batches(3);
  for (size_t i = 0; i < 8; ++i) batches[0].push_back(ByteSpan(pool).subspan(i, 20000));
  batches[1].push_back(ByteSpan(pool).first(250000));
  for (size_t i = 0; i < 20; ++i) batches[1].push_back(ByteSpan(pool).subspan(i * 3, 100 + i));
  batches[2].push_back(ByteSpan(pool).subspan(5, 129));
  for (const auto& data : batches) {
    std::vector<Id> ids(data.size());
    Blake2bKeyedLanes(key.span(), data, ids);
    for (size_t i = 0; i < data.size(); ++i) EXPECT_EQ(ids[i], KeyedHash(key, data[i])) << i;
  }
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
