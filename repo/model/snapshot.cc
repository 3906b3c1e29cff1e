#include "repo/model/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string_view>

#include "repo/os/fd_io.h"
#include "repo/store/object_codec.h"

namespace repo {
namespace {

void Strings(ByteWriter& w, const std::vector<std::string>& v) {
  w.U32(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) w.String(s);
}

bool ReadStrings(ByteReader& r, std::vector<std::string>* v) {
  uint32_t n;
  if (!r.U32(&n) || n > r.remaining() / 4) return false;
  v->resize(n);
  for (auto& s : *v) {
    if (!r.String(&s)) return false;
  }
  return true;
}

void OptionalId(ByteWriter& w, const std::optional<Id>& id) {
  w.U8(id ? 1 : 0);
  if (id) w.Raw(id->span());
}

bool ReadOptionalId(ByteReader& r, std::optional<Id>* id) {
  uint8_t has;
  if (!r.U8(&has) || has > 1) return false;
  if (!has) return true;
  ByteSpan b;
  if (!r.Raw(Id::kSize, &b)) return false;
  *id = Id::FromSpan(b);
  return true;
}

std::vector<uint64_t*> SummaryFields(SnapshotSummary& s) {
  return {&s.files_new,    &s.files_changed,   &s.files_unchanged, &s.dirs_new,
          &s.dirs_changed, &s.dirs_unchanged,  &s.data_blobs,      &s.tree_blobs,
          &s.bytes_read,   &s.bytes_processed, &s.bytes_added,     &s.errors};
}

}  // namespace

Bytes EncodeSnapshotPayload(const Snapshot& s) {
  Bytes out;
  ByteWriter w(&out);
  w.U8(kSnapshotVersion);
  w.U64(static_cast<uint64_t>(s.time_ns));
  w.String(s.hostname);
  w.String(s.username);
  Strings(w, s.paths);
  Strings(w, s.tags);
  w.U32(static_cast<uint32_t>(s.tree.size()));
  for (const Id& id : s.tree) w.Raw(id.span());
  OptionalId(w, s.parent);
  OptionalId(w, s.original);
  w.String(s.program_version);
  SnapshotSummary summary = s.summary;
  for (uint64_t* f : SummaryFields(summary)) w.U64(*f);
  w.U64(static_cast<uint64_t>(summary.duration_ns));
  return out;
}

Result<Snapshot> DecodeSnapshotPayload(ByteSpan payload, const std::string& what) {
  ByteReader r(payload);
  Snapshot s;
  uint8_t version;
  uint64_t time, duration;
  uint32_t trees;
  if (!r.U8(&version)) return Status::Corruption(what + ": empty");
  if (version > kSnapshotVersion) {
    return Status::UnsupportedVersion(what + ": snapshot version " + std::to_string(version) +
                                      " is newer than this repo binary supports; upgrade repo");
  }
  bool ok = version != 0 && r.U64(&time) && r.String(&s.hostname) && r.String(&s.username) &&
            ReadStrings(r, &s.paths) && ReadStrings(r, &s.tags) && r.U32(&trees) &&
            trees <= r.remaining() / Id::kSize;
  if (ok) {
    s.tree.resize(trees);
    for (Id& id : s.tree) {
      ByteSpan b;
      ok = ok && r.Raw(Id::kSize, &b);
      if (ok) id = Id::FromSpan(b);
    }
  }
  ok = ok && ReadOptionalId(r, &s.parent) && ReadOptionalId(r, &s.original) &&
       r.String(&s.program_version);
  for (uint64_t* f : SummaryFields(s.summary)) ok = ok && r.U64(f);
  ok = ok && r.U64(&duration) && r.done();
  if (!ok || s.tree.empty()) return Status::Corruption(what + ": malformed snapshot record");
  s.time_ns = static_cast<int64_t>(time);
  s.summary.duration_ns = static_cast<int64_t>(duration);
  return s;
}

Result<Id> WriteSnapshot(const MetadataStore& metadata, const Snapshot& s) {
  return metadata.Save(FileType::kSnapshot, ObjectKind::kSnapshot, EncodeSnapshotPayload(s));
}

Result<Snapshot> ReadSnapshot(const MetadataStore& metadata, const Id& id) {
  ASSIGN_OR_RETURN(Bytes payload, metadata.Load(FileType::kSnapshot, ObjectKind::kSnapshot, id));
  return DecodeSnapshotPayload(payload, MetadataStore::Describe(FileType::kSnapshot, id));
}

namespace {

// The local snapshot cache (docs/format.md, "Local cache"): a magic line, then per record its id
// (32), its length (u32) and the sealed record as stored in the repository.
constexpr std::string_view kCacheMagic = "repo snapshot cache 1\n";

using SealedRecords = std::map<Id, Bytes>;  // ordered: the file is the same for the same set

// The records of the cache file at `path`: none if it is missing, unreadable or malformed.
SealedRecords ReadSnapshotCache(const std::string& path) {
  SealedRecords records;
  auto read = ReadWholeFile(path);
  if (!read.ok()) return records;
  const Bytes& file = *read;
  if (file.size() < kCacheMagic.size() ||
      !std::equal(kCacheMagic.begin(), kCacheMagic.end(), file.begin())) {
    return records;
  }
  ByteReader r(ByteSpan(file).subspan(kCacheMagic.size()));
  while (!r.done()) {
    ByteSpan id, bytes;
    uint32_t length;
    if (!r.Raw(Id::kSize, &id) || !r.U32(&length) || !r.Raw(length, &bytes)) return {};
    records[Id::FromSpan(id)] = Bytes(bytes.begin(), bytes.end());
  }
  return records;
}

// Replaces the cache file at `path` with `records` (a new file renamed over the old one, so that
// a reader never sees half of it). Best effort: a cache that cannot be written is not an error.
void WriteSnapshotCache(const std::string& path, const SealedRecords& records) {
  Bytes file(kCacheMagic.begin(), kCacheMagic.end());
  ByteWriter w(&file);
  for (const auto& [id, bytes] : records) {
    w.Raw(id.span());
    w.U32(static_cast<uint32_t>(bytes.size()));
    w.Raw(bytes);
  }
  (void)ReplaceWholeFile(path, file);
}

}  // namespace

Result<std::vector<SnapshotRef>> ListSnapshots(Repository& repo) {
  const MetadataStore metadata = repo.metadata();
  ASSIGN_OR_RETURN(auto files, metadata.backend().List(FileType::kSnapshot));
  const std::string cache_path = repo.CacheDir() + "/snapshots";
  const SealedRecords cached = ReadSnapshotCache(cache_path);
  SealedRecords kept;  // the cache to write: the records listed now
  bool changed = false;
  std::vector<SnapshotRef> out;
  for (const FileInfo& f : files) {
    const Id id = *Id::ParseHex(f.name);
    const std::string what = MetadataStore::Describe(FileType::kSnapshot, id);
    if (auto it = cached.find(id); it != cached.end()) {
      auto payload = metadata.Open(FileType::kSnapshot, ObjectKind::kSnapshot, id, it->second);
      auto s = payload.ok() ? DecodeSnapshotPayload(*payload, what) : payload.status();
      if (s.ok()) {
        out.push_back({id, std::move(s).value()});
        kept.insert(*it);
        continue;
      }
      // A damaged or forged entry: read the record from the repository instead.
    }
    auto bytes = metadata.Read(FileType::kSnapshot, id);
    if (!bytes.ok() && bytes.status().IsNotFound()) continue;  // removed meanwhile (forget)
    if (!bytes.ok()) return bytes.status();
    ASSIGN_OR_RETURN(Bytes payload,
                     metadata.Open(FileType::kSnapshot, ObjectKind::kSnapshot, id, *bytes));
    ASSIGN_OR_RETURN(Snapshot s, DecodeSnapshotPayload(payload, what));
    out.push_back({id, std::move(s)});
    kept.emplace(id, std::move(bytes).value());
    changed = true;
  }
  if (changed || kept.size() != cached.size()) WriteSnapshotCache(cache_path, kept);
  std::sort(out.begin(), out.end(), [](const SnapshotRef& a, const SnapshotRef& b) {
    return a.snapshot.time_ns != b.snapshot.time_ns ? a.snapshot.time_ns < b.snapshot.time_ns
                                                    : a.id < b.id;
  });
  return out;
}

bool SnapshotFilter::Matches(const Snapshot& s) const {
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  if (!hosts.empty() && !has(hosts, s.hostname)) return false;
  for (const std::string& p : paths) {
    if (!has(s.paths, p)) return false;
  }
  if (tags.empty()) return true;
  for (const std::string& group : tags) {
    std::stringstream ss(group);
    bool all = true;
    for (std::string t; std::getline(ss, t, ',');) all = all && (t.empty() || has(s.tags, t));
    if (all) return true;
  }
  return false;
}

Result<SnapshotRef> FindSnapshot(const std::vector<SnapshotRef>& all, const std::string& given,
                                 const SnapshotFilter& filter) {
  std::string ref = given;
  if (ref.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos) {
    for (char& c : ref) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (ref == "latest") {
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (filter.Matches(it->snapshot)) return *it;
    }
    return Status::NotFound("no snapshot matches 'latest' with the filters given");
  }
  if (ref.size() < 4 || ref.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Status::InvalidArgument("snapshot '" + ref +
                                   "': give 'latest' or at least 4 hex digits of an id");
  }
  const SnapshotRef* found = nullptr;
  for (const SnapshotRef& s : all) {
    if (s.id.Hex().compare(0, ref.size(), ref) != 0) continue;
    if (found) return Status::InvalidArgument("snapshot id '" + ref + "' is ambiguous");
    found = &s;
  }
  if (!found) return Status::NotFound("no snapshot with id '" + ref + "'");
  return *found;
}

Result<std::vector<SnapshotRef>> SelectSnapshots(const std::vector<SnapshotRef>& all,
                                                 const std::vector<std::string>& refs,
                                                 const SnapshotFilter& filter) {
  std::vector<SnapshotRef> chosen;
  if (refs.empty()) {
    for (const SnapshotRef& r : all) {
      if (filter.Matches(r.snapshot)) chosen.push_back(r);
    }
    return chosen;
  }
  for (const std::string& ref : refs) {
    ASSIGN_OR_RETURN(SnapshotRef r, FindSnapshot(all, ref, filter));
    bool dup = false;
    for (const SnapshotRef& c : chosen) dup = dup || c.id == r.id;
    if (!dup) chosen.push_back(std::move(r));
  }
  return chosen;
}

}  // namespace repo
