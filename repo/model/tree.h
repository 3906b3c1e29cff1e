// Trees: the directory listings of a snapshot (docs/format.md, "Tree").
//
// A directory is a list of Nodes sorted by name, serialized deterministically, so an unchanged
// directory always encodes to the same bytes, hence the same tree blob id, and costs nothing to
// store again. A listing larger than kMaxSingleTreeBlob is cut with the repository's chunker
// into several tree blobs (a directory of a million files changes only the blobs around an
// edit); a directory Node refers to the list of its tree blobs in order.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/id.h"
#include "base/status.h"

namespace repo {

enum class NodeType : uint8_t {
  kFile = 1,
  kDir = 2,
  kSymlink = 3,
  kFifo = 4,
  kCharDevice = 5,
  kBlockDevice = 6,
  kSocket = 7,
};
std::string_view NodeTypeName(NodeType t);  // "file", "dir", ...

// One run of a file's content: `length` bytes of data blob `blob`, or a hole of `length` zero
// bytes (blob is zero) that restore recreates as a hole.
struct ContentRun {
  Id blob;
  uint64_t length = 0;
  bool hole = false;
  friend bool operator==(const ContentRun&, const ContentRun&) = default;
};

struct Node {
  NodeType type = NodeType::kFile;
  std::string name;   // bytes as the filesystem gave them; never contains '/' or NUL
  uint32_t mode = 0;  // permission bits and setuid/setgid/sticky (st_mode & 07777)
  uint32_t uid = 0, gid = 0;
  std::string user, group;  // names at snapshot time ("" if unknown)
  int64_t mtime_ns = 0, ctime_ns = 0;
  uint64_t size = 0;  // file: logical size; others 0
  uint64_t inode = 0, device = 0;
  uint32_t nlink = 0;
  uint64_t rdev = 0;                                        // devices
  std::string link_target;                                  // symlinks
  std::vector<std::pair<std::string, std::string>> xattrs;  // sorted by name
  std::vector<ContentRun> content;                          // files
  std::vector<Id> subtree;  // directories: the tree blobs of its listing, in order

  friend bool operator==(const Node&, const Node&) = default;
};

inline constexpr uint8_t kTreeVersion = 1;
// A listing encoding to more bytes than this is split into several tree blobs.
inline constexpr size_t kMaxSingleTreeBlob = 1 << 20;
// Most nodes and most runs/xattrs per node a decoder accepts: bounds hostile input.
inline constexpr uint32_t kMaxTreeItems = 1u << 26;

// Serializes `nodes`, which must be sorted by name with unique names (CHECKed by the encoder:
// InvalidArgument otherwise).
Result<Bytes> EncodeTree(const std::vector<Node>& nodes);
// Parses the concatenated tree blobs of one directory. Corruption naming `what` on malformed
// input, unsorted or duplicate names, or names containing '/' or NUL.
Result<std::vector<Node>> DecodeTree(ByteSpan bytes, const std::string& what);

}  // namespace repo
