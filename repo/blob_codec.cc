#include "repo/blob_codec.h"

#include <array>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo/compression.h"

namespace repo {
namespace {

std::array<uint8_t, 1 + Id::kSize> BlobAd(BlobType type, const Id& id) {
  std::array<uint8_t, 1 + Id::kSize> ad;
  ad[0] = static_cast<uint8_t>(type);
  std::memcpy(ad.data() + 1, id.data(), Id::kSize);
  return ad;
}

}  // namespace

Id ComputeBlobId(const MasterKeys& keys, BlobType type, ByteSpan plaintext) {
  if (type == BlobType::kData) return KeyedHash(keys.id_key, plaintext);
  return KeyedHashInDomain(keys.id_key, "repo tree", plaintext);
}

EncodedBlob EncodeBlob(const MasterKeys& keys, BlobType type, const Id& id, ByteSpan plaintext,
                       int zstd_level) {
  EncodedBlob out;
  out.raw_length = static_cast<uint32_t>(plaintext.size());
  Bytes compressed;
  if (zstd_level != 0 && CompressIfSmaller(plaintext, zstd_level, &compressed)) {
    out.flags = kBlobFlagZstd;
    plaintext = compressed;
  }
  out.sealed.reserve(plaintext.size() + kAeadOverhead);
  SealAppend(keys.enc_key, plaintext, BlobAd(type, id), &out.sealed);
  return out;
}

Result<Bytes> DecodeBlob(const MasterKeys& keys, BlobType type, const Id& id, uint8_t flags,
                         uint32_t raw_length, ByteSpan sealed) {
  const std::string what = std::string(BlobTypeName(type)) + " blob " + id.ShortHex();
  // No blob is larger than the largest pack: bound what decompression may allocate.
  if (raw_length > kMaxBlobSize) return Status::Corruption(what + ": impossible length");
  auto opened = Open(keys.enc_key, sealed, BlobAd(type, id));
  if (!opened.ok()) return opened.status().WithContext(what);
  Bytes plain;
  if (flags & kBlobFlagZstd) {
    ASSIGN_OR_RETURN(plain, Decompress(*opened, raw_length, what));
  } else {
    if (opened->size() != raw_length) return Status::Corruption(what + ": length mismatch");
    plain = std::move(opened).value();
  }
  if (ComputeBlobId(keys, type, plain) != id) {
    return Status::Corruption(what + ": content does not match its id");
  }
  return plain;
}

}  // namespace repo
