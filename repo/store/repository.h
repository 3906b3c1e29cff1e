// Repository: an opened repository — its keys, config, blob store and index. The one place that
// ties backend, crypto and index together; cli/ and fuse/ call only this and what it hands out.
//
// Thread-safety: the accessors are safe to call concurrently; key management is not (the CLI runs
// one key command per process).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "base/warning_sink.h"
#include "chunker/fastcdc.h"
#include "crypto/key_file.h"
#include "crypto/master_keys.h"
#include "index/index_cache.h"
#include "repo/storage/backend.h"
#include "repo/store/blob_store.h"
#include "repo/store/config.h"
#include "repo/store/index_file.h"
#include "repo/store/metadata_store.h"

namespace repo {

struct InitOptions {
  ChunkerParams chunker = ChunkerParams::Default();
  uint32_t pack_size = RepositoryConfig::kDefaultPackSize;
  int32_t zstd_level = RepositoryConfig::kDefaultZstdLevel;
  KdfParams kdf = KdfParams::Default();
};

struct KeyDescription {
  Id id;
  KeyFileInfo info;
  bool current = false;  // the key this process opened the repository with
};

struct RepairIndexReport {
  uint64_t packs_read = 0;
  uint64_t blobs_indexed = 0;
  std::vector<std::string> bad_packs;  // "pack <id>: <why>", not indexed
  uint64_t index_files_written = 0;
  uint64_t index_files_removed = 0;
};

class Repository {
 public:
  // Creates a repository in the (empty) backend: a fresh key file for `password`, then the
  // config, written last, so a half-made repository is never mistaken for one.
  static Result<std::unique_ptr<Repository>> Init(std::unique_ptr<Backend> backend,
                                                  const SecretBytes& password,
                                                  const InitOptions& options,
                                                  const std::string& cache_dir);
  // Opens an existing repository with `password`, trying every key file. UnsupportedVersion for
  // a newer format (checked before any password work); WrongPassword when no key matches.
  // `cache_dir` is the root cache directory (the cache of this repository is a subfolder).
  // `warn` takes what does not stop the repository from opening or working (a key file that
  // does not open, an index cache found stale and rebuilt); it must outlive the repository.
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<Backend> backend,
                                                  const SecretBytes& password,
                                                  const std::string& cache_dir,
                                                  WarningSink warn = {});
  ~Repository();

  const RepositoryConfig& config() const { return config_; }
  // This repository's local cache directory: <cache root>/<repository id> (docs/format.md,
  // "Local cache"). It may not exist yet.
  std::string CacheDir() const { return cache_dir_ + "/" + config_.id.Hex(); }
  const MasterKeys& keys() const { return keys_; }
  Backend& backend() { return *backend_; }
  // Snapshot records and other metadata files, sealed with this repository's key.
  MetadataStore metadata() { return MetadataStore(*backend_, keys_.enc_key); }
  const Id& key_id() const { return key_id_; }
  // The FastCDC gear table of this repository, derived from its secret chunker seed.
  const GearTable& gear_table() const { return gear_; }

  // The blob store, after bringing the local index cache up to date with the repository's index
  // files (merging new ones, rebuilding it if it is stale or missing).
  Result<BlobStore*> blobs();

  // From now on an index file that does not open is skipped with a warning (once per file), not
  // an error: for `repo check`, which reports it and what it costs. Every other command stops at
  // it (`repo repair index` is the fix). Call before blobs().
  void TolerateDamagedIndex() { tolerate_damaged_index_ = true; }

  // Brings the index cache up to date with index files written since it was last (by other
  // processes): catches up with the primary's writes when shared, then merges what is new. The
  // blob store calls it when a read misses; safe to call from any thread.
  Status RefreshIndex();

  // True once blobs() has opened the index cache in shared mode: another process holds it, and
  // this one reads it as a RocksDB secondary (docs/design.md, "Several processes at once").
  bool index_cache_shared() const { return cache_ && cache_->shared(); }

  // Resolves a unique hex prefix (at least 4 characters) of a file of `type`.
  Result<Id> ResolvePrefix(FileType type, std::string_view prefix);

  // Key management (docs/cli.md, "repo key").
  Result<std::vector<KeyDescription>> ListKeys();
  Result<Id> AddKey(const SecretBytes& password, const KdfParams& kdf);
  // Refuses to remove the last key and the key in use (use `key passwd` for that).
  Status RemoveKey(const Id& key);
  // Adds a key for `new_password`, then removes the current one. Returns the new key's id.
  Result<Id> ChangePassword(const SecretBytes& new_password, const KdfParams& kdf);

  // Rebuilds the index files from the pack headers. Packs whose header cannot be read are
  // reported, not indexed, and left in place. The new files replace the old ones and remove
  // their entries in packs that are gone or unreadable, so every cache applies the repair
  // incrementally (docs/design.md, "Index cache"); only a cache that merged an old file that
  // could not be read rebuilds.
  Result<RepairIndexReport> RepairIndex();

  // Writes one index file (or as few as kIndexFileEntries allows) holding the entries of
  // `files`, which replaces them, then deletes them: the many small files of frequent small
  // writers (wal-push) become one, applied by every cache without a rebuild. Files gone
  // meanwhile are skipped. Returns how many were replaced (0 if fewer than two were read).
  Result<size_t> ConsolidateIndex(const std::vector<Id>& files);

  // Index file `id`, read, checked against its name and decoded. NotFound if it is gone.
  Result<IndexFile> ReadIndexFile(const Id& id);
  // Writes index files of `entries` that replace `old` and remove `removed` (appending their
  // ids to *written), then deletes the files of `old` not among them: how repairs (and later
  // prune) change what the index says so that every cache follows incrementally. One file when
  // all fits in one; else entries of blobs no removal names go first, in files that replace
  // nothing, and the last file names `old` and holds the removals, the entries of the blobs they
  // name and what else fits. Maintenance only (under its session).
  Status ReplaceIndexFiles(const std::vector<Id>& old, std::vector<IndexEntry> entries,
                           std::vector<RemovedEntry> removed, std::vector<Id>* written);

 private:
  Repository() = default;
  Result<IndexCache*> index();
  // Merges the index files the cache has not merged (all of them, after a Clear, if one it
  // merged is gone or `force_rebuild`), listing again while files vanish between list and read.
  Status SyncIndex(IndexCache& cache, bool force_rebuild);
  // One listing's worth of SyncIndex; sets *vanished if a listed file was gone when read.
  Status SyncIndexOnce(IndexCache& cache, bool force_rebuild, bool* vanished);

  std::unique_ptr<Backend> backend_;
  std::string cache_dir_;
  WarningSink warn_;
  RepositoryConfig config_;
  MasterKeys keys_;
  Id key_id_;
  GearTable gear_{};
  std::unique_ptr<IndexCache> cache_;
  std::unique_ptr<BlobStore> blobs_;
  std::mutex refresh_mu_;  // one RefreshIndex at a time
  bool tolerate_damaged_index_ = false;
  std::unordered_set<Id, IdHash> warned_index_files_;  // under refresh_mu_ (or before blobs())
};

// The default cache root: $XDG_CACHE_HOME/repo, else $HOME/.cache/repo.
std::string DefaultCacheDir();

}  // namespace repo
