#include "fuse/snapshot_layout.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "repo/model/tree.h"

namespace repo::mount {
namespace {

// Whether snapshot `s` belongs in a directory of snapshots of kind `kind` with key `key`.
bool Belongs(VirtualKind kind, const std::string& key, const Snapshot& s) {
  switch (kind) {
    case VirtualKind::kHost:
      return s.hostname == key;
    case VirtualKind::kTag:
      return std::find(s.tags.begin(), s.tags.end(), key) != s.tags.end();
    default:
      return true;
  }
}

}  // namespace

std::string TimeName(int64_t time_ns) {
  const time_t t =
      static_cast<time_t>(time_ns >= 0 ? time_ns / 1000000000 : (time_ns + 1) / 1000000000 - 1);
  tm local{};
  localtime_r(&t, &local);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &local);
  std::string name = buf;
  const long offset = local.tm_gmtoff;
  if (offset == 0) return name + "Z";
  const long minutes = (offset < 0 ? -offset : offset) / 60;
  std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", offset < 0 ? '-' : '+', minutes / 60,
                minutes % 60);
  return name + buf;
}

SnapshotLayout::SnapshotLayout(Repository& repo, std::chrono::milliseconds refresh_after)
    : repo_(repo), refresh_after_(refresh_after) {
  nodes_.emplace_back();  // inode 0: none
  VirtualNode root;
  root.kind = VirtualKind::kRoot;
  root.parent = kRootIno;
  nodes_.push_back(root);
}

Status SnapshotLayout::RefreshLocked() {
  const auto now = std::chrono::steady_clock::now();
  if (listed_ && now - listed_at_ < refresh_after_) return Status::OK();
  ASSIGN_OR_RETURN(snapshots_, ListSnapshots(repo_));
  listed_at_ = now;
  listed_ = true;
  return Status::OK();
}

Result<std::vector<SnapshotLayout::Child>> SnapshotLayout::ChildrenLocked(
    const VirtualNode& parent) {
  RETURN_IF_ERROR(RefreshLocked());
  std::vector<Child> out;
  switch (parent.kind) {
    case VirtualKind::kRoot:
      out = {{"hosts", VirtualKind::kHosts, ""},
             {"ids", VirtualKind::kIds, ""},
             {"snapshots", VirtualKind::kSnapshots, ""},
             {"tags", VirtualKind::kTags, ""}};
      return out;
    case VirtualKind::kIds: {
      std::map<std::string, int> short_ids;
      for (const SnapshotRef& r : snapshots_) ++short_ids[r.id.ShortHex()];
      for (const SnapshotRef& r : snapshots_) {
        // Two ids that share their first 8 digits are both named in full.
        const std::string name = short_ids[r.id.ShortHex()] > 1 ? r.id.Hex() : r.id.ShortHex();
        out.push_back({name, VirtualKind::kSnapshot, "", &r});
      }
      break;
    }
    case VirtualKind::kHosts:
    case VirtualKind::kTags: {
      std::set<std::string> keys;
      for (const SnapshotRef& r : snapshots_) {
        if (parent.kind == VirtualKind::kHosts) {
          keys.insert(r.snapshot.hostname);
        } else {
          keys.insert(r.snapshot.tags.begin(), r.snapshot.tags.end());
        }
      }
      const VirtualKind kind =
          parent.kind == VirtualKind::kHosts ? VirtualKind::kHost : VirtualKind::kTag;
      for (const std::string& k : keys) {
        if (ValidNodeName(k)) out.push_back({k, kind, k});
      }
      break;
    }
    case VirtualKind::kSnapshots:
    case VirtualKind::kHost:
    case VirtualKind::kTag: {
      std::map<std::string, int> seen;  // time name -> snapshots named after it so far
      for (const SnapshotRef& r : snapshots_) {
        if (!Belongs(parent.kind, parent.key, r.snapshot)) continue;
        const std::string base = TimeName(r.snapshot.time_ns);
        const int n = seen[base]++;
        out.push_back(
            {n == 0 ? base : base + "-" + std::to_string(n), VirtualKind::kSnapshot, "", &r});
      }
      // latest is a new inode whenever it points elsewhere: the kernel caches a symlink's
      // target as long as its inode lives.
      const Child* newest = nullptr;
      for (const Child& c : out) {
        if (!newest || c.snapshot->snapshot.time_ns > newest->snapshot->snapshot.time_ns ||
            (c.snapshot->snapshot.time_ns == newest->snapshot->snapshot.time_ns &&
             c.snapshot > newest->snapshot)) {
          newest = &c;
        }
      }
      if (newest) out.push_back({"latest", VirtualKind::kLatest, "", newest->snapshot});
      break;
    }
    default:
      return Status::InvalidArgument("not a directory of the mount's layout");
  }
  std::sort(out.begin(), out.end(), [](const Child& a, const Child& b) { return a.name < b.name; });
  return out;
}

Result<uint64_t> SnapshotLayout::InoLocked(uint64_t parent, const Child& child) {
  std::string key = std::to_string(parent) + '/' + child.name;
  if (child.snapshot) key += '/' + child.snapshot->id.Hex();
  if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
  if (nodes_.size() >= kInoLimit) {
    return Status::IOError("the mount has made all the " + std::to_string(kInoLimit) +
                           " inode numbers of its layout: remount it");
  }
  auto [it, created] = by_key_.try_emplace(key, nodes_.size());
  VirtualNode n;
  n.kind = child.kind;
  n.parent = parent;
  n.name = child.name;
  n.key = child.key;
  if (child.snapshot) {
    n.snapshot = child.snapshot->id;
    n.tree = child.snapshot->snapshot.tree;
    n.time_ns = child.snapshot->snapshot.time_ns;
  }
  nodes_.push_back(std::move(n));
  return it->second;
}

Result<VirtualNode> SnapshotLayout::Get(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ino == 0 || ino >= nodes_.size()) return Status::NotFound("no such node");
  VirtualNode n = nodes_[ino];
  if (n.kind != VirtualKind::kSnapshot) {
    // A directory (or latest) is as new as the newest snapshot it leads to.
    RETURN_IF_ERROR(RefreshLocked());
    const VirtualNode& dir = n.kind == VirtualKind::kLatest ? nodes_[n.parent] : n;
    for (const SnapshotRef& r : snapshots_) {
      if (Belongs(dir.kind, dir.key, r.snapshot))
        n.time_ns = std::max(n.time_ns, r.snapshot.time_ns);
    }
  }
  return n;
}

Result<uint64_t> SnapshotLayout::Lookup(uint64_t parent, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (parent == 0 || parent >= nodes_.size()) return Status::NotFound("no such directory");
  const VirtualNode dir = nodes_[parent];
  ASSIGN_OR_RETURN(std::vector<Child> children, ChildrenLocked(dir));
  auto it = std::lower_bound(children.begin(), children.end(), name,
                             [](const Child& c, const std::string& n) { return c.name < n; });
  if (it == children.end() || it->name != name) return Status::NotFound(name + ": no such entry");
  return InoLocked(parent, *it);
}

Result<std::vector<std::pair<std::string, uint64_t>>> SnapshotLayout::List(uint64_t parent) {
  std::lock_guard<std::mutex> lock(mu_);
  if (parent == 0 || parent >= nodes_.size()) return Status::NotFound("no such directory");
  const VirtualNode dir = nodes_[parent];
  ASSIGN_OR_RETURN(std::vector<Child> children, ChildrenLocked(dir));
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(children.size());
  for (const Child& c : children) {
    ASSIGN_OR_RETURN(uint64_t ino, InoLocked(parent, c));
    out.emplace_back(c.name, ino);
  }
  return out;
}

Result<std::string> SnapshotLayout::LatestTarget(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ino == 0 || ino >= nodes_.size() || nodes_[ino].kind != VirtualKind::kLatest) {
    return Status::NotFound("no such symlink");
  }
  // The name, now, of the snapshot this latest was made for.
  const Id target = nodes_[ino].snapshot;
  const VirtualNode dir = nodes_[nodes_[ino].parent];
  ASSIGN_OR_RETURN(std::vector<Child> children, ChildrenLocked(dir));
  for (const Child& c : children) {
    if (c.kind == VirtualKind::kSnapshot && c.snapshot->id == target) return c.name;
  }
  return Status::NotFound("latest: its snapshot is gone");
}

}  // namespace repo::mount
