#include "repo/store/pack.h"

#include "crypto/aead.h"
#include "crypto/hash.h"

namespace repo {
namespace {

constexpr char kPackMagic[4] = {'R', 'P', 'A', 'K'};
constexpr size_t kHeaderFixed = 8;  // version, reserved[3], count
// First read of a pack tail: holds the header of a pack of up to ~5,600 blobs, which covers a
// default 16 MiB pack even of minimum-size (4 KiB) chunks.
constexpr uint64_t kTailGuess = 256 << 10;

}  // namespace

void PackWriter::Add(BlobType type, const Id& id, const EncodedBlob& blob) {
  IndexEntry e;
  e.blob = id;
  e.loc.type = type;
  e.loc.flags = blob.flags;
  e.loc.offset = static_cast<uint32_t>(bytes_.size());
  e.loc.length = static_cast<uint32_t>(blob.sealed.size());
  e.loc.raw_length = blob.raw_length;
  entries_.push_back(e);
  bytes_.insert(bytes_.end(), blob.sealed.begin(), blob.sealed.end());
}

Result<FinishedPack> PackWriter::Finish() {
  Bytes header;
  ByteWriter hw(&header);
  hw.U8(kPackHeaderVersion);
  hw.U8(0);
  hw.U16(0);
  hw.U32(static_cast<uint32_t>(entries_.size()));
  for (const IndexEntry& e : entries_) EncodeEntry(e, &hw);

  Bytes trailer;
  ByteWriter tw(&trailer);
  tw.U32(static_cast<uint32_t>(header.size() + kAeadOverhead));
  tw.Raw(AsBytes(std::string_view(kPackMagic, 4)));

  FinishedPack pack;
  pack.bytes = std::move(bytes_);
  SealAppend(enc_key_, header, trailer, &pack.bytes);
  pack.bytes.insert(pack.bytes.end(), trailer.begin(), trailer.end());
  pack.id = PlainHash(pack.bytes);
  std::vector<IndexEntry> written = std::move(entries_);
  bytes_.clear();
  entries_.clear();

  // Verify before anyone makes it durable: the header must decode to exactly what we wrote.
  auto reread = DecodePackHeader(enc_key_, pack.id, pack.bytes, pack.bytes.size());
  if (!reread.ok()) return reread.status().WithContext("verifying new pack");
  for (IndexEntry& e : written) e.loc.pack = pack.id;
  if (*reread != written) {
    return Status::Corruption("verifying new pack " + pack.id.ShortHex() +
                              ": header does not match the blobs written");
  }
  pack.entries = std::move(written);
  return pack;
}

Result<std::vector<IndexEntry>> DecodePackHeader(const SecretBytes& enc_key, const Id& pack,
                                                 ByteSpan tail, uint64_t pack_size,
                                                 size_t* needed) {
  const std::string what = "pack " + pack.ShortHex();
  if (pack_size < kPackTrailerSize || tail.size() < kPackTrailerSize || tail.size() > pack_size) {
    return Status::Corruption(what + ": too short to be a pack");
  }
  ByteSpan trailer = tail.last(kPackTrailerSize);
  if (AsChars(trailer.last(4)) != std::string_view(kPackMagic, 4)) {
    return Status::Corruption(what + ": bad trailer magic");
  }
  uint32_t sealed_len;
  ByteReader(trailer).U32(&sealed_len);
  if (sealed_len < kAeadOverhead + kHeaderFixed || sealed_len > pack_size - kPackTrailerSize) {
    return Status::Corruption(what + ": bad header length " + std::to_string(sealed_len));
  }
  if (tail.size() < sealed_len + kPackTrailerSize) {
    if (needed) *needed = sealed_len + kPackTrailerSize;
    return Status::InvalidArgument(what + ": tail too short for header");
  }
  ByteSpan sealed = tail.subspan(tail.size() - kPackTrailerSize - sealed_len, sealed_len);
  auto header = Open(enc_key, sealed, trailer);
  if (!header.ok()) return header.status().WithContext(what + " header");

  ByteReader r(*header);
  uint8_t version = 0, r8 = 0;
  uint16_t r16 = 0;
  uint32_t count = 0;
  r.U8(&version);
  r.U8(&r8);
  r.U16(&r16);
  r.U32(&count);
  if (version > kPackHeaderVersion) {
    return Status::UnsupportedVersion(what + ": header version " + std::to_string(version) +
                                      " is newer than this repo binary supports; upgrade repo");
  }
  if (version == 0 || r8 != 0 || r16 != 0) return Status::Corruption(what + ": bad header fields");
  if (count > kMaxPackEntries || r.remaining() != uint64_t{count} * kEntryWireSize) {
    return Status::Corruption(what + ": header entry count does not match its size");
  }
  const uint64_t blob_area = pack_size - kPackTrailerSize - sealed_len;
  std::vector<IndexEntry> entries(count);
  uint64_t expect_offset = 0;
  for (IndexEntry& e : entries) {
    if (!DecodeEntry(&r, pack, &e)) return Status::Corruption(what + ": malformed header entry");
    if (e.loc.offset != expect_offset || e.loc.length < kAeadOverhead) {
      return Status::Corruption(what + ": header entries do not tile the pack");
    }
    expect_offset += e.loc.length;
  }
  if (expect_offset != blob_area) {
    return Status::Corruption(what + ": header covers " + std::to_string(expect_offset) +
                              " bytes of blobs, pack holds " + std::to_string(blob_area));
  }
  return entries;
}

Result<std::vector<IndexEntry>> ReadPackHeader(Backend& backend, const SecretBytes& enc_key,
                                               const Id& pack) {
  FileHandle h{FileType::kPack, pack.Hex()};
  ASSIGN_OR_RETURN(FileInfo info, backend.Stat(h));
  const uint64_t size = info.size.value_or(0);
  uint64_t want = std::min(size, kTailGuess);
  ASSIGN_OR_RETURN(Bytes tail, backend.Read(h, size - want, want));
  size_t needed = 0;
  auto entries = DecodePackHeader(enc_key, pack, tail, size, &needed);
  if (entries.ok() || needed == 0) return entries;
  ASSIGN_OR_RETURN(tail, backend.Read(h, size - needed, needed));
  return DecodePackHeader(enc_key, pack, tail, size);
}

}  // namespace repo
