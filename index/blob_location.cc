#include "index/blob_location.h"

namespace repo {

std::string_view BlobTypeName(BlobType t) {
  switch (t) {
    case BlobType::kData:
      return "data";
    case BlobType::kTree:
      return "tree";
  }
  return "unknown";
}

void EncodeEntry(const IndexEntry& e, ByteWriter* w) {
  w->U8(static_cast<uint8_t>(e.loc.type));
  w->U8(e.loc.flags);
  w->Raw(e.blob.span());
  w->U32(e.loc.offset);
  w->U32(e.loc.length);
  w->U32(e.loc.raw_length);
}

bool DecodeEntry(ByteReader* r, const Id& pack, IndexEntry* e) {
  uint8_t type, flags;
  ByteSpan id;
  if (!r->U8(&type) || !r->U8(&flags) || !r->Raw(Id::kSize, &id) || !r->U32(&e->loc.offset) ||
      !r->U32(&e->loc.length) || !r->U32(&e->loc.raw_length)) {
    return false;
  }
  if (!IsKnownBlobType(type) || (flags & ~kKnownBlobFlags) != 0) return false;
  e->blob = Id::FromSpan(id);
  e->loc.pack = pack;
  e->loc.type = static_cast<BlobType>(type);
  e->loc.flags = flags;
  return true;
}

}  // namespace repo
