// Backend: the one storage seam. Everything the repository stores goes through these five
// operations, so a new place to keep backups (another disk, object storage) is one new class.
//
// Thread-safety: every method may be called concurrently from any thread, and several processes
// (possibly on several hosts) may use one repository at once. Files are immutable: Write never
// replaces an existing file, so concurrent writers cannot clobber each other.
//
// Errors: NotFound when the file is not there; AlreadyExists from Write when it is; Transient for
// failures worth retrying; IOError for the rest; Corruption when a file is shorter than a read
// needs. docs/design.md, "Backend".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/status.h"

namespace repo {

// The kinds of files in a repository; each has its own directory (docs/format.md, "Layout").
enum class FileType : uint8_t { kConfig, kKey, kPack, kIndex, kSnapshot, kSession };
std::string_view FileTypeName(FileType t);  // "config", "key", "pack", ...

struct FileHandle {
  FileType type;
  std::string name;  // 64 lower-case hex characters; empty for kConfig
  // "pack 1a2b3c4d" or "config", for messages.
  std::string Describe() const;
};

// OK iff the name is valid for the type: empty for kConfig, 64 lower-case hex otherwise. Backends
// call this so that a name can never escape the repository directory.
Status ValidateHandle(const FileHandle& h);

struct FileInfo {
  std::string name;
  // Always set by Stat. Set by List only where the listing itself carries sizes (the memory
  // backend; an object store's listing, later): the local backend lists names without a stat
  // per file, so that opening a repository of 100,000 index files costs one directory read.
  std::optional<uint64_t> size;
};

class Backend {
 public:
  static constexpr uint64_t kToEnd = UINT64_MAX;

  virtual ~Backend() = default;
  // Where the repository is, for messages ("/srv/backup", "memory").
  virtual std::string Location() const = 0;

  // Every file of `type` (never temporary files), in no particular order; FileInfo::size as
  // the listing gives it.
  virtual Result<std::vector<FileInfo>> List(FileType type) = 0;
  virtual Result<FileInfo> Stat(const FileHandle& h) = 0;
  // Bytes [offset, offset + length) of h; length kToEnd reads to the end. Corruption if the file
  // ends before offset + length.
  virtual Result<Bytes> Read(const FileHandle& h, uint64_t offset = 0,
                             uint64_t length = kToEnd) = 0;
  // Read into *out, resized to the bytes read: a reader of many ranges (the read seam) reuses
  // one buffer's memory instead of allocating and zeroing each range. Same errors as Read; on
  // error *out is unspecified. The default calls Read; a backend that can read in place
  // overrides it.
  virtual Status ReadInto(const FileHandle& h, uint64_t offset, uint64_t length, Bytes* out);
  // Creates h holding exactly `data`, atomically and durably: once OK is returned the file
  // survives a crash or power loss; if the call fails or the machine crashes, h is either absent
  // or complete, and a failed call removes it if it can (a record left behind by a failed
  // Write would outlive its writer: a session record, a stale lock). AlreadyExists if h exists
  // (the old file is left as it was).
  virtual Status Write(const FileHandle& h, ByteSpan data) = 0;
  // Removes h durably. NotFound if it is not there.
  virtual Status Delete(const FileHandle& h) = 0;
};

}  // namespace repo
