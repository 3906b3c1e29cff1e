#include "repo/model/snapshot_tags.h"

#include <algorithm>

namespace repo {
namespace {

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

std::vector<std::string> SplitTagList(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& a : args) {
    size_t pos = 0;
    while (pos <= a.size()) {
      size_t comma = a.find(',', pos);
      if (comma == std::string::npos) comma = a.size();
      if (comma > pos) out.push_back(a.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
  return out;
}

std::vector<std::string> ApplyTagEdit(const std::vector<std::string>& tags, const TagEdit& edit) {
  std::vector<std::string> out;
  auto append = [&](const std::vector<std::string>& v) {
    for (const std::string& t : v) {
      if (!t.empty() && !Contains(out, t)) out.push_back(t);
    }
  };
  append(edit.set ? *edit.set : tags);
  append(edit.add);
  std::erase_if(out, [&](const std::string& t) { return Contains(edit.remove, t); });
  return out;
}

Result<RetagResult> RetagSnapshot(const MetadataStore& metadata, const SnapshotRef& ref,
                                  const TagEdit& edit) {
  RetagResult r;
  r.old_id = r.new_id = ref.id;
  r.snapshot = ref.snapshot;
  std::vector<std::string> tags = ApplyTagEdit(ref.snapshot.tags, edit);
  if (tags == ref.snapshot.tags) return r;
  r.snapshot.tags = std::move(tags);
  if (!r.snapshot.original) r.snapshot.original = ref.id;
  ASSIGN_OR_RETURN(r.new_id, WriteSnapshot(metadata, r.snapshot));
  r.changed = true;
  if (r.new_id == ref.id) return r;  // cannot happen: the bytes differ; never delete what we wrote
  // The new record is durable: only now remove the old one.
  Status s = metadata.backend().Delete({FileType::kSnapshot, ref.id.Hex()});
  if (!s.ok() && !s.IsNotFound()) {
    return s.WithContext("snapshot " + ref.id.ShortHex() + " was rewritten as " +
                         r.new_id.ShortHex() +
                         ", but the old record could not be removed, so "
                         "both exist");
  }
  return r;
}

}  // namespace repo
