// LocalBackend: a repository in a directory of the local filesystem (docs/format.md, "Layout").
//
// Write = write a temporary file in the target directory, fsync it, link(2) it to its final name
// (which fails rather than replacing an existing file), unlink the temporary, fsync the directory.
// A crash leaves at most a stray ".tmp-*" file, which List never returns. The pack shard
// directories data/00 .. data/ff are made when the first pack lands in them. Thread-safe.
#pragma once

#include <string>

#include "repo/storage/backend.h"

namespace repo {

class LocalBackend final : public Backend {
 public:
  // Makes the directory layout at `path` (created if missing; must be empty if it exists).
  // AlreadyExists if `path` holds anything.
  static Result<std::unique_ptr<LocalBackend>> Create(const std::string& path);
  // Opens an existing repository directory. NotFound if `path` has no config file.
  static Result<std::unique_ptr<LocalBackend>> Open(const std::string& path);

  std::string Location() const override { return root_; }
  Result<std::vector<FileInfo>> List(FileType type) override;
  Result<FileInfo> Stat(const FileHandle& h) override;
  Result<Bytes> Read(const FileHandle& h, uint64_t offset, uint64_t length) override;
  Status ReadInto(const FileHandle& h, uint64_t offset, uint64_t length, Bytes* out) override;
  Status Write(const FileHandle& h, ByteSpan data) override;
  Status Delete(const FileHandle& h) override;

 private:
  explicit LocalBackend(std::string root) : root_(std::move(root)) {}
  std::string DirOf(const FileHandle& h) const;
  std::string PathOf(const FileHandle& h) const;
  const std::string root_;
};

}  // namespace repo
