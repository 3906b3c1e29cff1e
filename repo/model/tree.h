// Nodes: the entries of a snapshot's directory listings (docs/format.md, "Tree").
//
// A directory is a list of Nodes sorted by name, each serialized deterministically as a node
// record, so an unchanged directory always encodes to the same bytes, hence the same tree blob
// ids, and costs nothing to store again. How records are grouped into tree blobs (format 2: a
// B-tree of blobs, so that any listing and any file's content list is read as a stream and
// searched with O(depth) blob loads) is tree_blob.h; reading and writing them through a
// BlobStore is tree_io.h.
#pragma once

#include <cstdint>
#include <optional>
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

// A file's content: its runs held inline in its node when there are at most kMaxInlineRuns of
// them, else the root blob of its content list (tree_blob.h; runs empty). tree_io.h
// ContentReader reads either form.
struct FileContent {
  std::vector<ContentRun> runs;
  std::optional<Id> list;
  friend bool operator==(const FileContent&, const FileContent&) = default;
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
  FileContent content;                                      // files
  // Directories: the listing's tree blobs. Format 2: its one root blob; format 1: the pieces of
  // the encoded listing, in order.
  std::vector<Id> subtree;

  friend bool operator==(const Node&, const Node&) = default;
};

// Tree blob versions: 1, a listing encoded whole and cut into pieces (read only); 2, a B-tree of
// blobs (tree_blob.h), written since repository format 2.
inline constexpr uint8_t kTreeVersionV1 = 1;
inline constexpr uint8_t kTreeVersion = 2;
// Most runs a file holds inline in its node; more go to a content list.
inline constexpr size_t kMaxInlineRuns = 64;
// Most nodes and most runs/xattrs per node a decoder accepts: bounds hostile input.
inline constexpr uint32_t kMaxTreeItems = 1u << 26;
// Largest node record written (xattrs make records large); larger ones are refused when
// writing, naming the file.
inline constexpr size_t kMaxNodeRecord = 16u << 20;

// The node record of `node` in tree version 2 (docs/format.md, "Node record"). InvalidArgument
// naming the node if it cannot be represented: a bad name, a record above kMaxNodeRecord, more
// than kMaxInlineRuns inline runs, or a data run longer than 4 GiB - 1.
Status EncodeNodeRecord(const Node& node, Bytes* out);
// Parses one node record of tree version `version` (1 or 2): false if malformed.
bool DecodeNodeRecord(ByteSpan record, uint8_t version, Node* node);
// Whether `name` may name a node: not empty, `.` or `..`, no '/' or NUL.
bool ValidNodeName(const std::string& name);

// Tree version 1 (format 1, read only; the encoder is kept for tests and the fuzzer): a whole
// listing, sorted by name with unique names, as one byte string that StoreTree cut into pieces.
Result<Bytes> EncodeTreeV1(const std::vector<Node>& nodes);
// Parses the concatenated pieces of one version 1 listing. Corruption naming `what` on malformed
// input, unsorted or duplicate names, or names containing '/' or NUL.
Result<std::vector<Node>> DecodeTreeV1(ByteSpan bytes, const std::string& what);

}  // namespace repo
