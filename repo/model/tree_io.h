// Storing and loading directory listings as tree blobs (docs/format.md, "Tree").
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "chunker/fastcdc.h"
#include "repo/model/tree.h"
#include "repo/store/blob_store.h"

namespace repo {

struct StoredTree {
  std::vector<Id> blobs;  // in order; their concatenation is the encoded listing
  uint64_t blobs_added = 0;
  uint64_t bytes_added = 0;
};

// Encodes `nodes` (sorted, unique names) and stores the listing: one tree blob when it is at most
// kMaxSingleTreeBlob bytes, else the pieces FastCDC cuts it into (so a large directory changed in
// one place gets mostly the same blobs).
Result<StoredTree> StoreTree(BlobStore& store, const ChunkerParams& params, const GearTable& gear,
                             const std::vector<Node>& nodes);

// Loads and decodes the listing stored in `blobs`. `what` names the directory in messages.
Result<std::vector<Node>> LoadTree(BlobStore& store, const std::vector<Id>& blobs,
                                   const std::string& what);

// Visits every node under the tree `root` depth-first in name order, parents before children.
// `path` is the node's absolute path in the snapshot ("/etc/passwd"). `visit` returns whether to
// descend into a directory (ignored for other nodes); an error from it stops the walk.
using TreeVisitor = std::function<Result<bool>(const std::string& path, const Node& node)>;
Status WalkTree(BlobStore& store, const std::vector<Id>& root, const TreeVisitor& visit);

// The node at absolute `path` under `root` ("/" gives a directory node for the root itself).
// NotFound naming the path if there is none.
Result<Node> FindNode(BlobStore& store, const std::vector<Id>& root, const std::string& path);

}  // namespace repo
