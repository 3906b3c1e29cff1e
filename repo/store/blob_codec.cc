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

// DecodeBlob before its id check, into `plain`, which is raw_length bytes.
Status OpenBlob(const MasterKeys& keys, BlobType type, const Id& id, uint8_t flags, ByteSpan sealed,
                const std::string& what, MutableByteSpan plain) {
  if (!(flags & kBlobFlagZstd)) {
    if (sealed.size() != plain.size() + kAeadOverhead && sealed.size() >= kAeadOverhead) {
      return Status::Corruption(what + ": length mismatch");
    }
    return OpenInto(keys.enc_key, sealed, BlobAd(type, id), plain).WithContext(what);
  }
  thread_local Bytes frame;  // the compressed plaintext, reused by this thread's blobs
  RETURN_IF_ERROR(OpenInto(keys.enc_key, sealed, BlobAd(type, id), &frame).WithContext(what));
  return DecompressInto(frame, plain, what);
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
  std::vector<Bytes> plain;
  const SealedBlob blob{id, flags, raw_length, sealed};
  RETURN_IF_ERROR(DecodeBlobs(keys, type, {&blob, 1}, &plain));
  return std::move(plain[0]);
}

Status DecodeBlobs(const MasterKeys& keys, BlobType type, std::span<const SealedBlob> blobs,
                   std::vector<Bytes>* plain) {
  plain->resize(blobs.size());
  std::vector<MutableByteSpan> out(blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i) {
    // No blob is larger than the largest pack: bound what a hostile length may allocate.
    if (blobs[i].raw_length > kMaxBlobSize) {
      return Status::Corruption(BlobWhat(type, blobs[i].id) + ": impossible length");
    }
    (*plain)[i].resize(blobs[i].raw_length);
    out[i] = (*plain)[i];
  }
  return DecodeBlobsInto(keys, type, blobs, out);
}

Status DecodeBlobsInto(const MasterKeys& keys, BlobType type, std::span<const SealedBlob> blobs,
                       std::span<const MutableByteSpan> plain) {
  std::vector<ByteSpan> spans(blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i) {
    const SealedBlob& b = blobs[i];
    const std::string what = BlobWhat(type, b.id);
    if (plain[i].size() != b.raw_length) return Status::Corruption(what + ": length mismatch");
    RETURN_IF_ERROR(OpenBlob(keys, type, b.id, b.flags, b.sealed, what, plain[i]));
    spans[i] = plain[i];
  }
  std::vector<Id> ids(blobs.size());
  ComputeBlobIds(keys, type, spans, ids);
  for (size_t i = 0; i < blobs.size(); ++i) {
    if (ids[i] != blobs[i].id) return IdMismatch(BlobWhat(type, blobs[i].id));
  }
  return Status::OK();
}

}  // namespace repo
