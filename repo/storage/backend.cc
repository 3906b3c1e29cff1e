#include "repo/storage/backend.h"

namespace repo {

std::string_view FileTypeName(FileType t) {
  switch (t) {
    case FileType::kConfig:
      return "config";
    case FileType::kKey:
      return "key";
    case FileType::kPack:
      return "pack";
    case FileType::kIndex:
      return "index";
    case FileType::kSnapshot:
      return "snapshot";
    case FileType::kSession:
      return "session";
  }
  return "unknown";
}

std::string FileHandle::Describe() const {
  if (type == FileType::kConfig) return "config";
  return std::string(FileTypeName(type)) + " " + name.substr(0, 8);
}

Status Backend::ReadInto(const FileHandle& h, uint64_t offset, uint64_t length, Bytes* out) {
  ASSIGN_OR_RETURN(Bytes bytes, Read(h, offset, length));
  out->assign(bytes.begin(), bytes.end());  // a copy, but into the caller's memory, as promised
  return Status::OK();
}

Status ValidateHandle(const FileHandle& h) {
  if (h.type == FileType::kConfig) {
    if (!h.name.empty()) return Status::InvalidArgument("config file takes no name");
    return Status::OK();
  }
  bool ok = h.name.size() == 64;
  for (char c : h.name) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) {
    return Status::InvalidArgument("invalid " + std::string(FileTypeName(h.type)) + " file name '" +
                                   h.name + "': want 64 lower-case hex digits");
  }
  return Status::OK();
}

}  // namespace repo
