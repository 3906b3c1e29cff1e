#include "repo/store/object_codec.h"

#include "crypto/aead.h"
#include "repo/store/compression.h"

namespace repo {
namespace {

constexpr char kMagic[4] = {'R', 'P', 'O', 'B'};
constexpr uint8_t kFlagZstd = 0x01;
constexpr int kObjectZstdLevel = 3;
// Objects are decompressed into memory whole; refuse absurd sizes from a hostile file.
constexpr uint64_t kMaxObjectPayload = 1ull << 32;

}  // namespace

Bytes SealObject(const SecretBytes& enc_key, ObjectKind kind, ByteSpan payload) {
  Bytes body;
  ByteWriter bw(&body);
  bw.U64(payload.size());  // raw length, so decompression knows its bound
  bool compressed = CompressIfSmaller(payload, kObjectZstdLevel, &body);
  if (!compressed) bw.Raw(payload);
  Bytes out;
  ByteWriter w(&out);
  w.Raw(AsBytes(std::string_view(kMagic, 4)));
  w.U8(kObjectVersion);
  w.U8(static_cast<uint8_t>(kind));
  w.U8(compressed ? kFlagZstd : 0);
  w.U8(0);
  Bytes header(out.begin(), out.end());
  SealAppend(enc_key, body, header, &out);
  return out;
}

Status CheckObjectHeader(ObjectKind kind, ByteSpan object, const std::string& what) {
  if (object.size() < kObjectHeaderSize ||
      AsChars(object.first(4)) != std::string_view(kMagic, 4)) {
    return Status::Corruption(what + ": not a repo object (bad magic)");
  }
  if (object[4] > kObjectVersion) {
    return Status::UnsupportedVersion(what + ": format version " + std::to_string(object[4]) +
                                      " is newer than this repo binary supports (" +
                                      std::to_string(kObjectVersion) + "); upgrade repo");
  }
  if (object[4] == 0) return Status::Corruption(what + ": format version 0 is invalid");
  if (object[5] != static_cast<uint8_t>(kind)) {
    return Status::Corruption(what + ": wrong object kind " + std::to_string(object[5]));
  }
  if ((object[6] & ~kFlagZstd) != 0 || object[7] != 0) {
    return Status::Corruption(what + ": unknown object flags");
  }
  return Status::OK();
}

Result<Bytes> OpenObject(const SecretBytes& enc_key, ObjectKind kind, ByteSpan object,
                         const std::string& what) {
  RETURN_IF_ERROR(CheckObjectHeader(kind, object, what));
  auto body = Open(enc_key, object.subspan(kObjectHeaderSize), object.first(kObjectHeaderSize));
  if (!body.ok()) return body.status().WithContext(what);
  ByteReader r(*body);
  uint64_t raw_length;
  if (!r.U64(&raw_length) || raw_length > kMaxObjectPayload) {
    return Status::Corruption(what + ": bad payload length");
  }
  ByteSpan rest;
  r.Raw(r.remaining(), &rest);
  if (object[6] & kFlagZstd) return Decompress(rest, raw_length, what);
  if (rest.size() != raw_length) return Status::Corruption(what + ": payload length mismatch");
  return Bytes(rest.begin(), rest.end());
}

}  // namespace repo
