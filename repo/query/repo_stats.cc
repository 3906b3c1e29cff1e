#include "repo/query/repo_stats.h"

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "repo/model/tree_io.h"

namespace repo {
namespace {

// A file with more than one link: counted once per snapshot by (device, inode).
struct HardLink {
  uint64_t device = 0, inode = 0, size = 0;
};

struct PairHash {
  size_t operator()(const std::pair<uint64_t, uint64_t>& p) const {
    return std::hash<uint64_t>()(p.first * 0x9e3779b97f4a7c15ull ^ p.second);
  }
};

// The totals of everything below one directory; hard-linked files are listed, not counted, so
// that a snapshot can count each once even when its links sit in different directories.
struct DirTotals {
  RestoreSize size;
  std::vector<HardLink> links;
};

class StatsWalker {
 public:
  StatsWalker(BlobStore& store, bool raw_data) : store_(store), raw_data_(raw_data) {}

  // REQUIRES: the returned reference is used before the walker is destroyed (map values are
  // stable across inserts).
  // `path` names the directory in messages ("" for the root).
  Result<const DirTotals*> Dir(const std::vector<Id>& tree, const std::string& path) {
    std::string key;
    key.reserve(tree.size() * Id::kSize);
    for (const Id& id : tree) key.append(reinterpret_cast<const char*>(id.data()), Id::kSize);
    if (auto it = memo_.find(key); it != memo_.end()) return &it->second;

    ListingReader listing(store_, tree, "tree of " + (path.empty() ? "/" : path));
    const auto note_tree = [this](const Id& id) { trees_.insert(id); };
    if (raw_data_) listing.OnBlob(note_tree);
    DirTotals t;
    for (Node n;;) {
      ASSIGN_OR_RETURN(bool more, listing.Next(&n));
      if (!more) break;
      switch (n.type) {
        case NodeType::kFile:
          if (n.nlink > 1) {
            t.links.push_back({n.device, n.inode, n.size});
          } else {
            ++t.size.files;
            t.size.bytes += n.size;
          }
          if (raw_data_) {
            ContentReader content(store_, n, path + "/" + n.name);
            content.OnBlob(note_tree);
            for (ContentRun r;;) {
              ASSIGN_OR_RETURN(bool more_runs, content.Next(&r));
              if (!more_runs) break;
              if (!r.hole) data_.insert(r.blob);
            }
          }
          break;
        case NodeType::kDir: {
          ++t.size.dirs;
          ASSIGN_OR_RETURN(const DirTotals* sub, Dir(n.subtree, path + "/" + n.name));
          t.size.files += sub->size.files;
          t.size.dirs += sub->size.dirs;
          t.size.others += sub->size.others;
          t.size.bytes += sub->size.bytes;
          t.links.insert(t.links.end(), sub->links.begin(), sub->links.end());
          break;
        }
        default:
          ++t.size.others;
          break;
      }
    }
    return &memo_.emplace(std::move(key), std::move(t)).first->second;
  }

  // Adds one snapshot's restore size to `out`.
  Status Snapshot(const SnapshotRef& s, RestoreSize* out) {
    auto root = Dir(s.snapshot.tree, "");
    if (!root.ok()) return root.status().WithContext("snapshot " + s.id.ShortHex());
    const DirTotals& t = **root;
    out->files += t.size.files;
    out->dirs += t.size.dirs;
    out->others += t.size.others;
    out->bytes += t.size.bytes;
    std::unordered_set<std::pair<uint64_t, uint64_t>, PairHash> seen;
    for (const HardLink& l : t.links) {
      if (!seen.insert({l.device, l.inode}).second) continue;
      ++out->files;
      out->bytes += l.size;
    }
    return Status::OK();
  }

  // Looks up every distinct blob collected so far.
  Status Sizes(SnapshotStats* out) {
    auto add = [&](const std::unordered_set<Id, IdHash>& ids, BlobTotals* totals) -> Status {
      for (const Id& id : ids) {
        ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, store_.Find(id));
        if (!loc) {
          ++out->blobs_missing;
          continue;
        }
        ++totals->count;
        totals->raw_bytes += loc->raw_length;
        totals->stored_bytes += loc->length;
      }
      return Status::OK();
    };
    RETURN_IF_ERROR(add(data_, &out->data));
    return add(trees_, &out->tree);
  }

 private:
  BlobStore& store_;
  const bool raw_data_;
  std::unordered_map<std::string, DirTotals> memo_;  // key: the directory's tree blob ids
  std::unordered_set<Id, IdHash> data_, trees_;
};

}  // namespace

Result<SnapshotStats> CollectSnapshotStats(BlobStore& store,
                                           const std::vector<SnapshotRef>& snapshots,
                                           bool raw_data) {
  SnapshotStats out;
  StatsWalker walker(store, raw_data);
  for (const SnapshotRef& s : snapshots) {
    RETURN_IF_ERROR(walker.Snapshot(s, &out.restore));
    ++out.snapshots;
  }
  if (raw_data) RETURN_IF_ERROR(walker.Sizes(&out));
  return out;
}

Result<RepositoryTotals> CollectRepositoryTotals(Backend& backend) {
  RepositoryTotals t;
  ASSIGN_OR_RETURN(auto snapshots, backend.List(FileType::kSnapshot));
  ASSIGN_OR_RETURN(auto packs, backend.List(FileType::kPack));
  ASSIGN_OR_RETURN(auto index, backend.List(FileType::kIndex));
  t.snapshots = snapshots.size();
  t.packs = packs.size();
  for (const FileInfo& p : packs) {
    std::optional<uint64_t> size = p.size;
    if (!size) {  // the listing has no sizes: one stat per pack
      ASSIGN_OR_RETURN(FileInfo info, backend.Stat({FileType::kPack, p.name}));
      size = info.size;
    }
    t.pack_bytes += size.value_or(0);
  }
  t.index_files = index.size();
  return t;
}

}  // namespace repo
