#include "repo/store/repository.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <set>
#include <unordered_set>

#include "crypto/hash.h"
#include "repo/store/index_file.h"
#include "repo/store/object_codec.h"

namespace repo {
namespace {

GearTable DeriveGearTable(const SecretBytes& seed) {
  GearTable gear;
  for (uint32_t i = 0; i < gear.size(); ++i) {
    Bytes counter;
    ByteWriter(&counter).U32(i);
    Id h = KeyedHash(seed, counter);
    uint64_t v = 0;
    for (int b = 7; b >= 0; --b) v = v << 8 | h.data()[b];
    gear[i] = v;
  }
  return gear;
}

KeyFileInfo LocalKeyInfo() {
  KeyFileInfo info;
  info.created_unix = static_cast<int64_t>(std::time(nullptr));
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) info.hostname = host;
  if (passwd* pw = getpwuid(getuid())) info.username = pw->pw_name;
  return info;
}

Result<Id> WriteKeyFile(Backend& backend, const MasterKeys& keys, const SecretBytes& password,
                        const KdfParams& kdf) {
  ASSIGN_OR_RETURN(Bytes file, CreateKeyFile(keys, password, kdf, LocalKeyInfo()));
  return MetadataStore(backend, keys.enc_key).Write(FileType::kKey, file);
}

}  // namespace

std::string DefaultCacheDir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/repo";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/repo";
  return "/var/cache/repo";
}

Repository::~Repository() = default;

Result<std::unique_ptr<Repository>> Repository::Init(std::unique_ptr<Backend> backend,
                                                     const SecretBytes& password,
                                                     const InitOptions& options,
                                                     const std::string& cache_dir) {
  RETURN_IF_ERROR(options.kdf.Validate());
  if (password.empty()) return Status::InvalidArgument("empty password; choose a password");
  ASSIGN_OR_RETURN(auto existing, backend->List(FileType::kConfig));
  if (!existing.empty()) {
    return Status::AlreadyExists("a repository already exists at " + backend->Location());
  }
  std::unique_ptr<Repository> repo(new Repository());
  repo->config_.chunker = options.chunker;
  repo->config_.pack_size = options.pack_size;
  repo->config_.zstd_level = options.zstd_level;
  repo->config_.created_unix = static_cast<int64_t>(std::time(nullptr));
  SecretBytes rid = SecretBytes::Random(Id::kSize);
  repo->config_.id = Id::FromSpan(rid.span());
  RETURN_IF_ERROR(repo->config_.Validate());
  repo->keys_ = MasterKeys::Generate();

  ASSIGN_OR_RETURN(repo->key_id_, WriteKeyFile(*backend, repo->keys_, password, options.kdf));
  Bytes config = SealObject(repo->keys_.enc_key, ObjectKind::kConfig, repo->config_.Encode());
  Status written = backend->Write({FileType::kConfig, ""}, config);
  if (!written.ok()) {
    // Best effort: a key without a config opens nothing (Open skips such keys anyway).
    (void)backend->Delete({FileType::kKey, repo->key_id_.Hex()});
    return written;
  }

  repo->backend_ = std::move(backend);
  repo->cache_dir_ = cache_dir;
  repo->gear_ = DeriveGearTable(repo->keys_.chunker_seed);
  return repo;
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<Backend> backend,
                                                     const SecretBytes& password,
                                                     const std::string& cache_dir,
                                                     WarningSink warn) {
  auto config_file = backend->Read({FileType::kConfig, ""});
  if (!config_file.ok()) {
    if (config_file.status().IsNotFound()) {
      // Snapshots without a config: a repository whose config was lost, not a place that
      // never held one.
      auto snapshots = backend->List(FileType::kSnapshot);
      if (snapshots.ok() && !snapshots->empty()) {
        return Status::Corruption("the config file of " + backend->Location() +
                                  " is missing, though it holds snapshots: the repository "
                                  "cannot be opened without it (copy it back from a copy of "
                                  "the repository)");
      }
      return Status::NotFound("no repository at " + backend->Location() +
                              " (run 'repo init' to create one)");
    }
    return config_file.status();
  }
  RETURN_IF_ERROR(CheckObjectHeader(ObjectKind::kConfig, *config_file, "config"));

  ASSIGN_OR_RETURN(auto key_files, backend->List(FileType::kKey));
  std::sort(key_files.begin(), key_files.end(),
            [](const FileInfo& a, const FileInfo& b) { return a.name < b.name; });
  std::unique_ptr<Repository> repo(new Repository());
  if (key_files.empty()) {
    return Status::Corruption("no key file in " + backend->Location() +
                              ": nothing can open the repository (keys/ is empty)");
  }
  Status last = Status::WrongPassword("no key file in " + backend->Location());
  std::string damaged_keys;  // key files whose bytes no longer hash to their name
  bool opened = false;
  Status config_failure;  // a key opened but the config did not authenticate under it
  std::vector<std::string> foreign_keys;  // such keys: warned of if another key opens it
  for (const FileInfo& f : key_files) {
    auto bytes = backend->Read({FileType::kKey, f.name});
    if (!bytes.ok()) {
      last = bytes.status();
      continue;
    }
    auto keys = OpenKeyFile(*bytes, password);
    if (!keys.ok()) {
      // A damaged key file fails as a wrong password does (its seal does not open): its name,
      // the hash of its bytes, tells the two apart.
      if (Id::ParseHex(f.name) != PlainHash(*bytes)) {
        damaged_keys += (damaged_keys.empty() ? "" : ", ") + f.name.substr(0, 8);
        continue;
      }
      if (keys.status().code() != StatusCode::kWrongPassword) {
        if (warn) warn("key " + f.name.substr(0, 8) + ": " + keys.status().message());
        if (last.code() == StatusCode::kWrongPassword) last = keys.status();
      }
      continue;
    }
    // A key that opens but does not open the config belongs to another repository (e.g. left
    // over by an init whose config write failed): try the next one.
    auto payload = OpenObject(keys->enc_key, ObjectKind::kConfig, *config_file, "config");
    if (!payload.ok()) {
      foreign_keys.push_back(f.name.substr(0, 8));
      config_failure = payload.status();
      continue;
    }
    ASSIGN_OR_RETURN(repo->config_, RepositoryConfig::Decode(*payload));
    repo->keys_ = std::move(keys).value();
    repo->key_id_ = *Id::ParseHex(f.name);
    opened = true;
    break;
  }
  if (!opened && !config_failure.ok()) {
    return Status::Corruption(config_failure.message() +
                              ": the config is damaged, or the keys that open with this password "
                              "belong to another repository");
  }
  if (!opened && !damaged_keys.empty()) {
    return Status::Corruption("no key opens with this password, and key file " + damaged_keys +
                              " is damaged (its content does not match its name): if it held "
                              "this password, use another password of the repository");
  }
  if (!opened) {
    if (last.code() == StatusCode::kWrongPassword || last.code() == StatusCode::kCorruption) {
      return Status::WrongPassword("wrong password: no key in " + backend->Location() +
                                   " opens with it");
    }
    return last;
  }
  for (const std::string& k : foreign_keys) {
    if (warn) warn("key " + k + " opens with this password but not the config; skipped it");
  }
  repo->backend_ = std::move(backend);
  repo->cache_dir_ = cache_dir;
  repo->warn_ = std::move(warn);
  repo->gear_ = DeriveGearTable(repo->keys_.chunker_seed);
  return repo;
}

Result<Id> Repository::ResolvePrefix(FileType type, std::string_view prefix) {
  if (prefix.size() < 4) {
    return Status::InvalidArgument("id '" + std::string(prefix) +
                                   "' is too short; give at least 4 hex digits");
  }
  ASSIGN_OR_RETURN(auto files, backend_->List(type));
  std::optional<Id> match;
  for (const FileInfo& f : files) {
    if (f.name.compare(0, prefix.size(), prefix) != 0) continue;
    if (match) {
      return Status::InvalidArgument("id '" + std::string(prefix) + "' is ambiguous: several " +
                                     std::string(FileTypeName(type)) + " files start with it");
    }
    match = Id::ParseHex(f.name);
  }
  if (!match) {
    return Status::NotFound("no " + std::string(FileTypeName(type)) + " file matches id '" +
                            std::string(prefix) + "'");
  }
  return *match;
}

Result<std::vector<KeyDescription>> Repository::ListKeys() {
  ASSIGN_OR_RETURN(auto files, backend_->List(FileType::kKey));
  std::vector<KeyDescription> out;
  for (const FileInfo& f : files) {
    ASSIGN_OR_RETURN(Bytes bytes, backend_->Read({FileType::kKey, f.name}));
    KeyDescription d;
    d.id = *Id::ParseHex(f.name);
    auto info = ReadKeyFileInfo(bytes);
    if (!info.ok()) return info.status().WithContext("key " + d.id.ShortHex());
    d.info = std::move(info).value();
    d.current = d.id == key_id_;
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(), [](const KeyDescription& a, const KeyDescription& b) {
    return a.info.created_unix != b.info.created_unix ? a.info.created_unix < b.info.created_unix
                                                      : a.id < b.id;
  });
  return out;
}

Result<Id> Repository::AddKey(const SecretBytes& password, const KdfParams& kdf) {
  RETURN_IF_ERROR(kdf.Validate());
  return WriteKeyFile(*backend_, keys_, password, kdf);
}

Status Repository::RemoveKey(const Id& key) {
  if (key == key_id_) {
    return Status::InvalidArgument("key " + key.ShortHex() +
                                   " is the one in use; open the repository with another key to "
                                   "remove it, or use 'repo key passwd'");
  }
  ASSIGN_OR_RETURN(auto files, backend_->List(FileType::kKey));
  bool found = false;
  for (const FileInfo& f : files) found = found || f.name == key.Hex();
  if (!found) return Status::NotFound("no key " + key.ShortHex());
  if (files.size() <= 1) return Status::InvalidArgument("refusing to remove the last key");
  return backend_->Delete({FileType::kKey, key.Hex()});
}

Result<Id> Repository::ChangePassword(const SecretBytes& new_password, const KdfParams& kdf) {
  ASSIGN_OR_RETURN(Id added, AddKey(new_password, kdf));
  Id old = key_id_;
  key_id_ = added;  // the new key is durable: from now on it is the one in use
  RETURN_IF_ERROR(backend_->Delete({FileType::kKey, old.Hex()}));
  return added;
}

Result<IndexCache*> Repository::index() {
  if (!cache_) {
    ASSIGN_OR_RETURN(cache_, IndexCache::Open(CacheDir() + "/index", config_.id));
    Status s = SyncIndex(*cache_, false);
    if (!s.ok()) {
      cache_.reset();
      return s;
    }
  }
  return cache_.get();
}

Status Repository::SyncIndex(IndexCache& cache, bool force_rebuild) {
  // An index file listed but gone when read was replaced meanwhile (by `repair index`; later by
  // consolidation or prune): list again rather than fail.
  constexpr int kAttempts = 5;
  for (int attempt = 1;; ++attempt) {
    bool vanished = false;
    RETURN_IF_ERROR(SyncIndexOnce(cache, force_rebuild && attempt == 1, &vanished));
    if (!vanished) return Status::OK();
    if (attempt == kAttempts) {
      return Status::IOError("index files kept vanishing while they were read (" +
                             std::to_string(kAttempts) +
                             " listings): is another command replacing them? try again");
    }
  }
}

Status Repository::SyncIndexOnce(IndexCache& cache, bool force_rebuild, bool* vanished) {
  // Hash sets of ids, not of hex names: at 100,000 index files, ordered sets of strings were
  // most of a command's start (docs/perf.md, "Start-up").
  ASSIGN_OR_RETURN(auto listed, backend_->List(FileType::kIndex));
  std::vector<Id> names;
  names.reserve(listed.size());
  for (const FileInfo& f : listed) names.push_back(*Id::ParseHex(f.name));
  const std::unordered_set<Id, IdHash> listed_set(names.begin(), names.end());
  ASSIGN_OR_RETURN(IndexCache::KnownFiles known, cache.KnownIndexFiles());
  std::unordered_set<Id, IdHash> have, replaced;  // merged; replaced by a merged file
  if (force_rebuild) {
    RETURN_IF_ERROR(cache.Clear());
  } else {
    have.insert(known.merged.begin(), known.merged.end());
    replaced.insert(known.superseded.begin(), known.superseded.end());
  }
  // Merges the listed files not merged or replaced yet.
  auto merge_new = [&]() -> Status {
    for (const Id& id : names) {
      if (have.count(id) || replaced.count(id)) continue;
      auto decoded = ReadIndexFile(id);
      if (!decoded.ok() && decoded.status().IsNotFound()) {
        *vanished = true;  // merged later if its replacement says so
        continue;
      }
      if (!decoded.ok() && decoded.status().IsCorruption() && tolerate_damaged_index_) {
        // A reader that reports damage (check) goes on without it: not merged, so read again
        // next time; the blobs only it lists count as missing. Warned once per process.
        if (warn_ && warned_index_files_.insert(id).second) {
          warn_(decoded.status().message() +
                "; skipped: the blobs only it lists count as missing until `repo repair index`");
        }
        continue;
      }
      // Everyone else stops: a writer would deduplicate against entries the damaged file's
      // removals should have taken out (a replacing file's), or reuse parent content that no
      // readable index file lists.
      if (!decoded.ok() && (decoded.status().code() == StatusCode::kCorruption ||
                            decoded.status().code() == StatusCode::kUnsupportedVersion)) {
        return decoded.status().WithContext(
            "reading the repository index (run 'repo repair index')");
      }
      if (!decoded.ok()) return decoded.status();
      RETURN_IF_ERROR(
          cache.AddIndexFile(id, decoded->entries, decoded->supersedes, decoded->removed));
      have.insert(id);
      // A file it replaces, listed after it, is not merged.
      replaced.insert(decoded->supersedes.begin(), decoded->supersedes.end());
    }
    return Status::OK();
  };
  RETURN_IF_ERROR(merge_new());
  // A merged file no longer listed must have been replaced by one merged now or before: else it
  // was removed behind every cache's back, and which of its entries are still valid is unknown.
  for (const Id& m : have) {
    if (listed_set.count(m) || replaced.count(m)) continue;
    if (warn_) {
      warn_("index file " + m.ShortHex() +
            " was removed without a replacement naming it (by hand, or by an older repo): "
            "rebuilding the local index cache from " +
            std::to_string(names.size()) + " index files");
    }
    RETURN_IF_ERROR(cache.Clear());
    have.clear();
    replaced.clear();
    return merge_new();
  }
  return Status::OK();
}

Result<BlobStore*> Repository::blobs() {
  if (!blobs_) {
    ASSIGN_OR_RETURN(IndexCache * cache, index());
    blobs_ = std::make_unique<BlobStore>(*backend_, keys_, config_, *cache);
    blobs_->SetRefresher([this] { return RefreshIndex(); });
  }
  return blobs_.get();
}

Status Repository::RefreshIndex() {
  std::lock_guard<std::mutex> lock(refresh_mu_);
  ASSIGN_OR_RETURN(IndexCache * cache, index());
  RETURN_IF_ERROR(cache->CatchUp());
  return SyncIndex(*cache, false);
}

Result<IndexFile> Repository::ReadIndexFile(const Id& id) {
  ASSIGN_OR_RETURN(Bytes bytes, metadata().Read(FileType::kIndex, id));
  return DecodeIndexFile(keys_.enc_key, bytes, MetadataStore::Describe(FileType::kIndex, id));
}

Status Repository::ReplaceIndexFiles(const std::vector<Id>& old, std::vector<IndexEntry> entries,
                                     std::vector<RemovedEntry> removed, std::vector<Id>* written) {
  // One file when everything fits in one. Otherwise the entries of blobs that a removal names,
  // which must win over it (and over an old file's entry that the removal takes back) in every
  // cache whatever order it merges files in, go in the last file, which names the old files (a
  // cache that merges it merges none of them afterwards) and holds the removals (applied before
  // the file's own entries). The other entries go first, in files that replace nothing: until
  // the last file is durable the old files stay in force, so a crash between leaves only
  // duplicates of entries that are valid.
  std::unordered_set<Id, IdHash> removed_blobs;
  for (const RemovedEntry& r : removed) removed_blobs.insert(r.blob);
  const auto last = std::stable_partition(entries.begin(), entries.end(), [&](const IndexEntry& e) {
    return !removed_blobs.count(e.blob);
  });
  // The plain files take whole files' worth of the other entries while the rest would not fit
  // in the last file.
  const size_t others = static_cast<size_t>(last - entries.begin());
  size_t plain = 0;
  while (entries.size() - plain > BlobStore::kIndexFileEntries && plain < others) {
    plain += std::min(BlobStore::kIndexFileEntries, others - plain);
  }
  for (size_t at = 0; at < plain;) {
    const size_t n = std::min(BlobStore::kIndexFileEntries, plain - at);
    const std::vector<IndexEntry> part(entries.begin() + static_cast<ptrdiff_t>(at),
                                       entries.begin() + static_cast<ptrdiff_t>(at + n));
    ASSIGN_OR_RETURN(Id id,
                     metadata().Write(FileType::kIndex, EncodeIndexFile(keys_.enc_key, part)));
    written->push_back(id);
    at += n;
  }
  IndexFile file;
  file.entries.assign(entries.begin() + static_cast<ptrdiff_t>(plain), entries.end());
  file.supersedes = old;
  file.removed = std::move(removed);
  if (!file.entries.empty() || !file.supersedes.empty() || !file.removed.empty()) {
    ASSIGN_OR_RETURN(Id id,
                     metadata().Write(FileType::kIndex, EncodeIndexFile(keys_.enc_key, file)));
    written->push_back(id);
  }
  // Only now, the new files durable, go the old ones.
  for (const Id& f : old) {
    if (std::find(written->begin(), written->end(), f) != written->end()) continue;
    Status s = backend_->Delete({FileType::kIndex, f.Hex()});
    if (!s.ok() && !s.IsNotFound()) return s;
  }
  return Status::OK();
}

Result<size_t> Repository::ConsolidateIndex(const std::vector<Id>& files) {
  if (files.size() < 2) return size_t{0};
  std::vector<IndexEntry> entries;
  std::vector<Id> read;
  for (const Id& id : files) {
    auto file = ReadIndexFile(id);
    if (!file.ok() && file.status().IsNotFound()) continue;  // replaced meanwhile
    if (!file.ok()) return file.status();
    // What a file replaces itself is not carried over (the lists would grow with history): a
    // cache that merged one of those but never the file replacing it finds it gone,
    // unaccounted for, and rebuilds.
    entries.insert(entries.end(), file->entries.begin(), file->entries.end());
    read.push_back(id);
  }
  if (read.size() < 2) return size_t{0};
  std::vector<Id> written;
  RETURN_IF_ERROR(ReplaceIndexFiles(read, std::move(entries), {}, &written));
  return read.size();
}

Result<RepairIndexReport> Repository::RepairIndex() {
  RepairIndexReport report;
  ASSIGN_OR_RETURN(auto old_index, backend_->List(FileType::kIndex));
  ASSIGN_OR_RETURN(auto packs, backend_->List(FileType::kPack));
  std::vector<IndexEntry> entries;
  std::set<Id> good;  // packs whose header was read
  for (const FileInfo& p : packs) {
    Id pack = *Id::ParseHex(p.name);
    auto header = ReadPackHeader(*backend_, keys_.enc_key, pack);
    ++report.packs_read;
    if (!header.ok()) {
      report.bad_packs.push_back(header.status().message());
      continue;
    }
    good.insert(pack);
    report.blobs_indexed += header->size();
    entries.insert(entries.end(), header->begin(), header->end());
  }
  // The old files are replaced by the new ones, with their entries in packs that are gone or
  // unreadable removed, so that every cache applies the repair without a rebuild. An old file
  // that cannot be read is not named: a cache that merged it finds it gone, unaccounted for,
  // and rebuilds.
  std::vector<Id> old, unreadable;
  std::vector<RemovedEntry> removed;
  for (const FileInfo& f : old_index) {
    const Id id = *Id::ParseHex(f.name);
    auto file = ReadIndexFile(id);
    if (!file.ok()) {
      unreadable.push_back(id);
      continue;
    }
    old.push_back(id);
    for (const IndexEntry& e : file->entries) {
      if (!good.count(e.loc.pack)) removed.push_back(RemovedEntry{e.blob, e.loc.pack});
    }
  }
  std::vector<Id> written;
  RETURN_IF_ERROR(ReplaceIndexFiles(old, std::move(entries), std::move(removed), &written));
  for (const Id& f : unreadable) {
    Status s = backend_->Delete({FileType::kIndex, f.Hex()});
    if (!s.ok() && !s.IsNotFound()) return s;
  }
  report.index_files_written = written.size();
  for (const FileInfo& f : old_index) {
    report.index_files_removed +=
        std::find(written.begin(), written.end(), *Id::ParseHex(f.name)) == written.end();
  }
  blobs_.reset();
  cache_.reset();
  ASSIGN_OR_RETURN(cache_, IndexCache::Open(CacheDir() + "/index", config_.id));
  RETURN_IF_ERROR(SyncIndex(*cache_, false));
  return report;
}

}  // namespace repo
