#include "repo/storage/memory_backend.h"

namespace repo {

Result<std::vector<FileInfo>> MemoryBackend::List(FileType type) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<FileInfo> out;
  for (const auto& [key, data] : files_) {
    if (key.first == type) out.push_back({key.second, data.size()});
  }
  return out;
}

Result<FileInfo> MemoryBackend::Stat(const FileHandle& h) {
  RETURN_IF_ERROR(ValidateHandle(h));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find({h.type, h.name});
  if (it == files_.end()) return Status::NotFound(h.Describe() + ": no such file");
  return FileInfo{h.name, it->second.size()};
}

Result<Bytes> MemoryBackend::Read(const FileHandle& h, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(ValidateHandle(h));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find({h.type, h.name});
  if (it == files_.end()) return Status::NotFound(h.Describe() + ": no such file");
  const Bytes& data = it->second;
  if (length == kToEnd) length = offset <= data.size() ? data.size() - offset : 0;
  if (offset > data.size() || length > data.size() - offset) {
    return Status::Corruption(h.Describe() + ": short file: wanted " + std::to_string(length) +
                              " bytes at offset " + std::to_string(offset) + ", file has " +
                              std::to_string(data.size()));
  }
  return Bytes(data.begin() + offset, data.begin() + offset + length);
}

Status MemoryBackend::Write(const FileHandle& h, ByteSpan data) {
  RETURN_IF_ERROR(ValidateHandle(h));
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = files_.try_emplace({h.type, h.name}, data.begin(), data.end());
  if (!inserted) return Status::AlreadyExists(h.Describe() + ": file exists");
  return Status::OK();
}

Status MemoryBackend::Delete(const FileHandle& h) {
  RETURN_IF_ERROR(ValidateHandle(h));
  std::lock_guard<std::mutex> lock(mu_);
  if (files_.erase({h.type, h.name}) == 0) return Status::NotFound(h.Describe() + ": no such file");
  return Status::OK();
}

}  // namespace repo
