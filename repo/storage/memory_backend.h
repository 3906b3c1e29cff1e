// MemoryBackend: a Backend held in process memory, for tests. Passes the same conformance suite as
// LocalBackend (tests/repo/backend_conformance_test.cc). Thread-safe.
#pragma once

#include <map>
#include <mutex>

#include "repo/storage/backend.h"

namespace repo {

class MemoryBackend final : public Backend {
 public:
  std::string Location() const override { return "memory"; }
  Result<std::vector<FileInfo>> List(FileType type) override;
  Result<FileInfo> Stat(const FileHandle& h) override;
  Result<Bytes> Read(const FileHandle& h, uint64_t offset, uint64_t length) override;
  Status Write(const FileHandle& h, ByteSpan data) override;
  Status Delete(const FileHandle& h) override;

 private:
  std::mutex mu_;
  std::map<std::pair<FileType, std::string>, Bytes> files_;
};

}  // namespace repo
