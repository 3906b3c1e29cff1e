// Fuzzes the encrypted-object envelope (repo/store/object_codec.h: CheckObjectHeader, OpenObject)
// and the repository config inside it (repo/store/config.h: RepositoryConfig::Decode).
//
// Input: mode byte, then by mode % 4:
//   0 raw:     a whole object, opened as kind 1 + (mode >> 2) % 3 (config, index, snapshot);
//              config payloads are decoded further.
//   1 seal:    a config payload; the target seals it with SealObject and the fixed key.
//   2 body:    flags byte | body; the target builds the header "RPOB" 1 kConfig flags 0 and seals
//              the body (raw_length u64 | payload or zstd frame) under it, so the envelope's
//              parsing after authentication (length, decompression) sees attacker-chosen bytes.
//   3 config:  a config payload, decoded directly (no envelope).
//
// Invariants (abort on violation): OpenObject fails whenever CheckObjectHeader does, with the same
// code; success only after authentication; an object sealed with SealObject opens to its payload;
// a decoded config validates and re-encodes to exactly its payload.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "crypto/aead.h"
#include "fuzz/fuzz_common.h"
#include "repo/store/compression.h"
#include "repo/store/config.h"
#include "repo/store/object_codec.h"

namespace {

using repo::fuzz::EncKey;

using repo::Bytes;
using repo::ByteSpan;
using repo::ObjectKind;

// OpenObject's decompression allocates raw_length (up to 4 GiB, authenticated) up front; the
// target skips bodies claiming more than this rather than report the fuzzer's malloc limit.
constexpr uint64_t kMaxZstdRawLength = 16u << 20;

bool Equal(ByteSpan a, ByteSpan b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

void FuzzConfig(ByteSpan payload) {
  auto config = repo::RepositoryConfig::Decode(payload);
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == repo::StatusCode::kCorruption ||
               config.status().code() == repo::StatusCode::kUnsupportedVersion);
    return;
  }
  FUZZ_CHECK(config->version >= 1 && config->version <= repo::RepositoryConfig::kFormatVersion);
  FUZZ_CHECK(config->Validate().ok());
  FUZZ_CHECK(Equal(config->Encode(), payload));
}

void FuzzRaw(ObjectKind kind, ByteSpan object) {
  const repo::Status header = repo::CheckObjectHeader(kind, object, "fuzz");
  auto payload = repo::OpenObject(EncKey(), kind, object, "fuzz");
  if (!header.ok()) {
    FUZZ_CHECK(!payload.ok() && payload.status().code() == header.code());
    return;
  }
  if (!payload.ok()) {
    FUZZ_CHECK(payload.status().code() == repo::StatusCode::kCorruption);
    return;
  }
  // Success means the body authenticated under the header: open it independently.
  FUZZ_CHECK(repo::Open(EncKey(), object.subspan(repo::kObjectHeaderSize),
                        object.first(repo::kObjectHeaderSize))
                 .ok());
  if (kind == ObjectKind::kConfig) FuzzConfig(*payload);
}

void FuzzSealed(ByteSpan payload) {
  const Bytes object = repo::SealObject(EncKey(), ObjectKind::kConfig, payload);
  FUZZ_CHECK(repo::CheckObjectHeader(ObjectKind::kConfig, object, "fuzz").ok());
  FUZZ_CHECK(!repo::CheckObjectHeader(ObjectKind::kIndex, object, "fuzz").ok());
  auto opened = repo::OpenObject(EncKey(), ObjectKind::kConfig, object, "fuzz");
  FUZZ_CHECK(opened.ok() && Equal(*opened, payload));
  FuzzConfig(*opened);
}

void FuzzBody(ByteSpan in) {
  if (in.empty()) return;
  const uint8_t flags = in[0];
  const ByteSpan body = in.subspan(1);
  uint64_t raw_length = 0;
  const bool has_length = repo::ByteReader(body).U64(&raw_length);
  if ((flags & 1) && has_length && raw_length > kMaxZstdRawLength) return;

  Bytes object = {
      'R',   'P', 'O', 'B', repo::kObjectVersion, static_cast<uint8_t>(ObjectKind::kConfig),
      flags, 0};
  const Bytes header = object;
  repo::SealAppend(EncKey(), body, header, &object);
  auto payload = repo::OpenObject(EncKey(), ObjectKind::kConfig, object, "fuzz");
  if (!payload.ok()) {
    FUZZ_CHECK(payload.status().code() == repo::StatusCode::kCorruption);
    return;
  }
  FUZZ_CHECK(has_length && payload->size() == raw_length);
  if (!(flags & 1)) FUZZ_CHECK(Equal(*payload, body.subspan(8)));
  FuzzConfig(*payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const ByteSpan rest(data + 1, size - 1);
  switch (mode % 4) {
    case 0:
      FuzzRaw(static_cast<ObjectKind>(1 + (mode >> 2) % 3), rest);
      break;
    case 1:
      FuzzSealed(rest);
      break;
    case 2:
      FuzzBody(rest);
      break;
    case 3:
      FuzzConfig(rest);
      break;
  }
  return 0;
}

// Seeds: sealed config/index/snapshot objects (raw), config payloads (seal, config), bodies.
std::vector<Bytes> FuzzSeeds() {
  std::vector<Bytes> seeds;
  repo::RepositoryConfig config;
  for (size_t i = 0; i < repo::Id::kSize; ++i) config.id.data()[i] = static_cast<uint8_t>(7 * i);
  config.chunker = repo::ChunkerParams::Default();
  config.created_unix = 1700000000;
  const Bytes payload = config.Encode();
  seeds.push_back(
      repo::fuzz::WithMode(0, repo::SealObject(EncKey(), ObjectKind::kConfig, payload)));
  seeds.push_back(repo::fuzz::WithMode(1, payload));
  seeds.push_back(repo::fuzz::WithMode(3, payload));

  repo::RepositoryConfig small = config;
  small.chunker = {64, 128, 1024};
  small.pack_size = 1u << 20;
  small.zstd_level = 0;
  seeds.push_back(repo::fuzz::WithMode(3, small.Encode()));
  repo::RepositoryConfig newer = config;
  newer.version = 2;
  seeds.push_back(repo::fuzz::WithMode(3, newer.Encode()));

  // A compressible payload, so that SealObject compresses; as index (4) and snapshot (8) kinds.
  Bytes text;
  for (int i = 0; i < 50; ++i)
    text.insert(text.end(), {'s', 'n', 'a', 'p', static_cast<uint8_t>('0' + i % 10)});
  seeds.push_back(repo::fuzz::WithMode(4, repo::SealObject(EncKey(), ObjectKind::kIndex, text)));
  seeds.push_back(repo::fuzz::WithMode(8, repo::SealObject(EncKey(), ObjectKind::kSnapshot, text)));
  Bytes wrong_version = repo::SealObject(EncKey(), ObjectKind::kConfig, payload);
  wrong_version[4] = 2;
  seeds.push_back(repo::fuzz::WithMode(0, wrong_version));

  // Bodies: uncompressed config, and a zstd frame of the text.
  Bytes body;
  repo::ByteWriter w(&body);
  w.U64(payload.size());
  w.Raw(payload);
  seeds.push_back(repo::fuzz::WithMode(2, [&] {
    Bytes b{0};
    b.insert(b.end(), body.begin(), body.end());
    return b;
  }()));
  Bytes zbody{1};
  repo::ByteWriter zw(&zbody);
  zw.U64(text.size());
  FUZZ_CHECK(repo::CompressIfSmaller(text, 3, &zbody));
  seeds.push_back(repo::fuzz::WithMode(2, zbody));
  return seeds;
}
