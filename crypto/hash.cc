#include "crypto/hash.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "crypto/blake2b_lanes.h"

namespace repo {

static_assert(Id::kSize == crypto_generichash_BYTES);

namespace {

constexpr size_t kIdKeySize = 32;

crypto_generichash_state* State(unsigned char* storage) {
  return std::launder(reinterpret_cast<crypto_generichash_state*>(storage));
}

}  // namespace

Id KeyedHash(const SecretBytes& key, ByteSpan data) {
  EnsureCryptoInit();
  if (key.size() != kIdKeySize) {
    std::fprintf(stderr, "repo: fatal: KeyedHash: key is %zu bytes, need %zu\n", key.size(),
                 kIdKeySize);
    std::abort();
  }
  Id id;
  crypto_generichash(id.data(), Id::kSize, data.data(), data.size(), key.data(), key.size());
  return id;
}

void KeyedHashMany(const SecretBytes& key, std::span<const ByteSpan> data, std::span<Id> ids) {
  // Below four messages most lanes would idle: one at a time is as fast.
  constexpr size_t kMinLanes = 4;
  std::vector<ByteSpan> lanes;
  std::vector<Id> lane_ids;
  std::vector<size_t> where;
  const bool use_lanes = data.size() >= kMinLanes && Blake2bLanesAvailable();
  for (size_t i = 0; i < data.size(); ++i) {
    // An empty message's last block is the key block, which the lanes do not handle.
    if (use_lanes && !data[i].empty()) {
      lanes.push_back(data[i]);
      where.push_back(i);
    } else {
      ids[i] = KeyedHash(key, data[i]);
    }
  }
  if (lanes.empty()) return;
  if (key.size() != kIdKeySize) {
    std::fprintf(stderr, "repo: fatal: KeyedHashMany: key is %zu bytes, need %zu\n", key.size(),
                 kIdKeySize);
    std::abort();
  }
  lane_ids.resize(lanes.size());
  Blake2bKeyedLanes(key.span(), lanes, lane_ids);
  for (size_t k = 0; k < where.size(); ++k) ids[where[k]] = lane_ids[k];
}

Id KeyedHashInDomain(const SecretBytes& key, std::string_view domain, ByteSpan data) {
  EnsureCryptoInit();
  if (key.size() != kIdKeySize || domain.size() > crypto_generichash_blake2b_PERSONALBYTES) {
    std::fprintf(stderr, "repo: fatal: KeyedHashInDomain: bad key or domain size\n");
    std::abort();
  }
  unsigned char personal[crypto_generichash_blake2b_PERSONALBYTES] = {0};
  std::memcpy(personal, domain.data(), domain.size());
  Id id;
  crypto_generichash_blake2b_salt_personal(id.data(), Id::kSize, data.data(), data.size(),
                                           key.data(), key.size(), nullptr, personal);
  return id;
}

Id PlainHash(ByteSpan data) {
  EnsureCryptoInit();
  Id id;
  crypto_generichash(id.data(), Id::kSize, data.data(), data.size(), nullptr, 0);
  return id;
}

Hasher::Hasher() {
  static_assert(sizeof(crypto_generichash_state) <= sizeof(state_));
  static_assert(alignof(crypto_generichash_state) <= 64);
  EnsureCryptoInit();
  crypto_generichash_state* st = new (state_) crypto_generichash_state;
  crypto_generichash_init(st, nullptr, 0, Id::kSize);
}

void Hasher::Update(ByteSpan data) {
  crypto_generichash_update(State(state_), data.data(), data.size());
}

Id Hasher::Final() {
  Id id;
  crypto_generichash_final(State(state_), id.data(), Id::kSize);
  return id;
}

}  // namespace repo
