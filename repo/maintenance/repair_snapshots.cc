#include "repo/maintenance/repair_snapshots.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "repo/maintenance/forget.h"
#include "repo/model/tree_io.h"

namespace repo {
namespace {

// Deepest directory rewritten (as `repo check` walks).
constexpr size_t kMaxDepth = 4096;

// A listing after repair: lost (it cannot be read), unchanged, or written anew as `ids`, with
// what was cut below it (paths relative to it).
struct Repaired {
  bool lost = false;
  std::optional<std::vector<Id>> ids;
  std::vector<std::pair<std::string, std::string>> notes;
};

class Repairer {
 public:
  Repairer(BlobStore& store, const std::vector<Id>& lost, bool dry_run)
      : store_(store), lost_(lost.begin(), lost.end()), dry_run_(dry_run) {}

  Result<const Repaired*> Listing(const std::vector<Id>& tree, size_t depth) {
    std::string key;
    for (const Id& id : tree) key.append(reinterpret_cast<const char*>(id.data()), Id::kSize);
    if (auto it = memo_.find(key); it != memo_.end()) return &it->second;
    Repaired out;
    std::vector<Node> nodes;
    bool changed = false;
    ListingReader reader(store_, tree, "directory listing");
    for (Node n;;) {
      auto more = reader.Next(&n);
      if (!more.ok()) {
        if (!IsDamage(more.status())) return more.status();
        out.lost = true;
        return &memo_.emplace(std::move(key), std::move(out)).first->second;
      }
      if (!*more) break;
      if (n.type == NodeType::kFile) {
        std::string note;
        ASSIGN_OR_RETURN(bool cut, File(&n, &note));
        if (cut) {
          changed = true;
          out.notes.emplace_back(n.name, note);
        }
      } else if (n.type == NodeType::kDir) {
        if (depth >= kMaxDepth) {
          changed = true;
          out.notes.emplace_back(n.name + "/", "nested too deep to repair: left out");
          continue;
        }
        ASSIGN_OR_RETURN(const Repaired* child, Listing(n.subtree, depth + 1));
        if (child->lost) {
          changed = true;
          out.notes.emplace_back(n.name + "/", "directory listing lost: left out");
          continue;
        }
        for (const auto& [path, note] : child->notes) {
          out.notes.emplace_back(n.name + "/" + path, note);
        }
        if (child->ids) {
          n.subtree = *child->ids;
          changed = true;
        }
      }
      nodes.push_back(std::move(n));
    }
    if (changed) {
      if (dry_run_) {
        out.ids = tree;  // not written: the notes are what a dry run reports
      } else {
        ASSIGN_OR_RETURN(StoredTree stored, StoreTree(store_, nodes));
        out.ids = std::move(stored.blobs);
      }
    }
    return &memo_.emplace(std::move(key), std::move(out)).first->second;
  }

 private:
  // Cuts file `n` at its first lost byte, if it has one: true and a note if so.
  Result<bool> File(Node* n, std::string* note) {
    // Where the content is first lost: a lost blob, or a content list that cannot be read on.
    std::optional<uint64_t> cut;
    std::string why;
    {
      ContentReader content(store_, *n, "content list");
      for (ContentRun r;;) {
        const uint64_t at = content.offset();
        auto more = content.Next(&r);
        if (!more.ok()) {
          if (!IsDamage(more.status())) return more.status();
          cut = at;
          why = more.status().message();
          break;
        }
        if (!*more) break;
        if (!r.hole && lost_.count(r.blob)) {
          cut = at;
          why = "data blob " + r.blob.ShortHex() + " lost";
          break;
        }
      }
    }
    if (!cut) return false;
    *note = "truncated to " + std::to_string(*cut) + " of " + std::to_string(n->size) + " bytes (" +
            why + ")";
    if (dry_run_) return true;
    // The runs before the cut, written again (inline, or as a new content list).
    ContentWriter writer(store_);
    ContentReader content(store_, *n, "content list");
    for (ContentRun r; content.offset() < *cut;) {
      ASSIGN_OR_RETURN(bool more, content.Next(&r));
      if (!more) break;
      RETURN_IF_ERROR(writer.Add(r));
    }
    RETURN_IF_ERROR(writer.Finish(n));
    n->size = *cut;
    return true;
  }

  BlobStore& store_;
  const std::unordered_set<Id, IdHash> lost_;
  const bool dry_run_;
  std::unordered_map<std::string, Repaired> memo_;  // by the listing's tree blob ids
};

}  // namespace

Result<std::vector<RepairedSnapshot>> RepairSnapshots(Repository& repo, Session* session,
                                                      const std::vector<SnapshotRef>& snapshots,
                                                      const std::vector<Id>& lost,
                                                      const RepairSnapshotsOptions& options) {
  ASSIGN_OR_RETURN(BlobStore * store, repo.blobs());
  Repairer repairer(*store, lost, options.dry_run);
  const MetadataStore metadata = repo.metadata();
  std::vector<RepairedSnapshot> out;
  for (const SnapshotRef& s : snapshots) {
    ASSIGN_OR_RETURN(const Repaired* root, repairer.Listing(s.snapshot.tree, 0));
    RepairedSnapshot r;
    r.old_id = s.id;
    if (root->lost) {
      r.root_lost = true;
      r.notes.push_back("/: the root listing is lost: nothing to keep; not repaired");
      out.push_back(std::move(r));
      continue;
    }
    if (!root->ids) continue;  // nothing lost
    for (const auto& [path, note] : root->notes) r.notes.push_back("/" + path + ": " + note);
    if (!options.dry_run) {
      Snapshot repaired = s.snapshot;
      repaired.tree = *root->ids;
      repaired.original = s.snapshot.original.value_or(s.id);
      repaired.time_ns = s.snapshot.time_ns + 1;  // the newer of the two, wherever times order
      if (std::find(repaired.tags.begin(), repaired.tags.end(), "repaired") ==
          repaired.tags.end()) {
        repaired.tags.push_back("repaired");
      }
      RETURN_IF_ERROR(store->Flush());  // the new tree blobs are durable and indexed first
      Id new_id;
      RETURN_IF_ERROR(session->Commit([&]() -> Status {
        ASSIGN_OR_RETURN(new_id, WriteSnapshot(metadata, repaired));
        return Status::OK();
      }));
      r.new_id = new_id;
      if (options.forget) {
        RETURN_IF_ERROR(session->Commit([&] { return RemoveSnapshot(metadata, s.id); }));
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace repo
