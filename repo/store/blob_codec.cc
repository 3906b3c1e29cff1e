#include "repo/store/blob_codec.h"

#include <array>
#include <string>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "repo/store/compression.h"

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

void ComputeBlobIds(const MasterKeys& keys, BlobType type, std::span<const ByteSpan> plaintexts,
                    std::span<Id> ids) {
  if (type == BlobType::kData) return KeyedHashMany(keys.id_key, plaintexts, ids);
  for (size_t i = 0; i < plaintexts.size(); ++i) ids[i] = ComputeBlobId(keys, type, plaintexts[i]);
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

namespace {

// DecodeBlob before its id check, into *plain (its memory reused).
Status OpenBlob(const MasterKeys& keys, BlobType type, const Id& id, uint8_t flags,
                uint32_t raw_length, ByteSpan sealed, const std::string& what, Bytes* plain) {
  // No blob is larger than the largest pack: bound what decompression may allocate.
  if (raw_length > kMaxBlobSize) return Status::Corruption(what + ": impossible length");
  if (!(flags & kBlobFlagZstd)) {
    RETURN_IF_ERROR(OpenInto(keys.enc_key, sealed, BlobAd(type, id), plain).WithContext(what));
    if (plain->size() != raw_length) return Status::Corruption(what + ": length mismatch");
    return Status::OK();
  }
  thread_local Bytes frame;  // the compressed plaintext, reused by this thread's blobs
  RETURN_IF_ERROR(OpenInto(keys.enc_key, sealed, BlobAd(type, id), &frame).WithContext(what));
  return DecompressInto(frame, raw_length, what, plain);
}

std::string BlobWhat(BlobType type, const Id& id) {
  return std::string(BlobTypeName(type)) + " blob " + id.ShortHex();
}

Status IdMismatch(const std::string& what) {
  return Status::Corruption(what + ": content does not match its id");
}

}  // namespace

Result<Bytes> DecodeBlob(const MasterKeys& keys, BlobType type, const Id& id, uint8_t flags,
                         uint32_t raw_length, ByteSpan sealed) {
  const std::string what = BlobWhat(type, id);
  Bytes plain;
  RETURN_IF_ERROR(OpenBlob(keys, type, id, flags, raw_length, sealed, what, &plain));
  if (ComputeBlobId(keys, type, plain) != id) return IdMismatch(what);
  return plain;
}

Status DecodeBlobs(const MasterKeys& keys, BlobType type, std::span<const SealedBlob> blobs,
                   std::vector<Bytes>* plain) {
  plain->resize(blobs.size());
  std::vector<ByteSpan> spans(blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i) {
    const SealedBlob& b = blobs[i];
    RETURN_IF_ERROR(OpenBlob(keys, type, b.id, b.flags, b.raw_length, b.sealed,
                             BlobWhat(type, b.id), &(*plain)[i]));
    spans[i] = (*plain)[i];
  }
  std::vector<Id> ids(blobs.size());
  ComputeBlobIds(keys, type, spans, ids);
  for (size_t i = 0; i < blobs.size(); ++i) {
    if (ids[i] != blobs[i].id) return IdMismatch(BlobWhat(type, blobs[i].id));
  }
  return Status::OK();
}

}  // namespace repo
