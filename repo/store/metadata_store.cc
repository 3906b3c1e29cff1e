#include "repo/store/metadata_store.h"

#include "crypto/hash.h"

namespace repo {

std::string MetadataStore::Describe(FileType type, const Id& id) {
  const bool file = type == FileType::kIndex || type == FileType::kKey;
  return std::string(FileTypeName(type)) + (file ? " file " : " ") + id.ShortHex();
}

Result<Id> MetadataStore::Write(FileType type, ByteSpan file) const {
  const Id id = PlainHash(file);
  Status s = backend_->Write({type, id.Hex()}, file);
  if (!s.ok() && s.code() != StatusCode::kAlreadyExists) {
    return s.WithContext("writing " + Describe(type, id));
  }
  return id;
}

Result<Bytes> MetadataStore::Read(FileType type, const Id& id) const {
  ASSIGN_OR_RETURN(Bytes file, backend_->Read({type, id.Hex()}));
  if (PlainHash(file) != id) {
    return Status::Corruption(Describe(type, id) + ": content does not match its name");
  }
  return file;
}

Result<Id> MetadataStore::Save(FileType type, ObjectKind kind, ByteSpan payload) const {
  return Write(type, SealObject(*enc_key_, kind, payload));
}

Result<Bytes> MetadataStore::Load(FileType type, ObjectKind kind, const Id& id) const {
  ASSIGN_OR_RETURN(Bytes file, Read(type, id));
  return OpenObject(*enc_key_, kind, file, Describe(type, id));
}

Result<Bytes> MetadataStore::Open(FileType type, ObjectKind kind, const Id& id,
                                  ByteSpan file) const {
  if (PlainHash(file) != id) {
    return Status::Corruption(Describe(type, id) + ": content does not match its name");
  }
  return OpenObject(*enc_key_, kind, file, Describe(type, id));
}

}  // namespace repo
