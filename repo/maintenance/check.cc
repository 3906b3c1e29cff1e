#include "repo/maintenance/check.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "crypto/key_file.h"
#include "index/index_cache.h"
#include "repo/maintenance/id_sorter.h"
#include "repo/maintenance/verified_packs.h"
#include "repo/model/tree_io.h"
#include "repo/store/blob_codec.h"
#include "repo/store/index_file.h"
#include "repo/store/pack.h"

namespace repo {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// What a list of entries of one pack says, whatever their order: their count and the sum of a
// hash of each. Equal digests mean equal entry sets but for a 2^-64 chance, which is enough to
// compare two authenticated records; a difference is then looked at entry by entry.
struct PackDigest {
  uint64_t count = 0, sum = 0;
  void Add(const IndexEntry& e) {
    uint64_t w[4];
    std::memcpy(w, e.blob.data(), sizeof w);
    const uint64_t loc = Mix((uint64_t{e.loc.offset} << 32 | e.loc.length) ^
                             Mix(uint64_t{e.loc.raw_length} << 16 |
                                 uint64_t{static_cast<uint8_t>(e.loc.type)} << 8 | e.loc.flags));
    sum += Mix(w[0] ^ Mix(w[1] ^ Mix(w[2] ^ Mix(w[3] ^ loc))));
    ++count;
  }
  friend bool operator==(const PackDigest&, const PackDigest&) = default;
};

// What one index file says about one pack.
struct IndexedPack {
  Id pack;
  Id file;
  PackDigest digest;
};

// A content reference waiting for its lookup: blob `blob`, `length` bytes at `offset` of the
// file that damage[file] describes.
struct PendingRun {
  Id blob;
  uint64_t offset = 0, length = 0;
  size_t file = 0;
};

// The damage below one directory listing, with paths relative to it.
struct DirDamage {
  std::vector<DamagedPath> paths;
  uint64_t more = 0;
};

std::string TreeKey(const std::vector<Id>& tree) {
  std::string key;
  key.reserve(tree.size() * Id::kSize);
  for (const Id& id : tree) key.append(reinterpret_cast<const char*>(id.data()), Id::kSize);
  return key;
}

class Checker {
 public:
  Checker(Repository& repo, BlobStore& store, const CheckOptions& options, CheckProgress* progress)
      : repo_(repo), store_(store), options_(options), progress_(progress) {}

  // The snapshots are read and their trees walked on a second thread while this one checks the
  // index files and packs (and reads data): the two need nothing from each other until the
  // references are resolved, which needs both.
  Status Run() {
    std::vector<SnapshotRef> snapshots;
    Status walked = Status::OK();
    Status checked = Status::OK();
    {
      std::jthread walker([&] {
        walked = ReadSnapshotsAndWalk(&snapshots);
        if (!walked.ok()) walk_failed_ = true;  // no use checking on: the check has failed
      });
      checked = CheckKeys();
      if (checked.ok()) checked = CheckIndexAndPacks();
      if (checked.ok()) checked = ReadData();
      if (!checked.ok()) stop_walk_ = true;
      // The walk's progress shows from here on, if it is still going.
      Phase(CheckProgress::kTrees, walk_total_);
      if (progress_) progress_->done = walked_.load();
      walk_reports_ = true;
    }
    RETURN_IF_ERROR(checked);
    RETURN_IF_ERROR(walked);
    for (std::string& e : walk_errors_) Error(std::move(e));
    report_.more_errors += walk_more_errors_;
    return ResolveAndName(&snapshots);
  }

  CheckReport& report() { return report_; }

 private:
  void Phase(CheckProgress::Phase phase, uint64_t total) {
    if (!progress_) return;
    progress_->done = 0;
    progress_->total = total;
    progress_->phase = phase;
  }
  void Step() {
    if (progress_) ++progress_->done;
  }
  // Keeps the first kMaxErrors lines; the rest are counted (millions of missing blobs when an
  // index file is lost).
  void Error(std::string line) {
    if (report_.errors.size() < kMaxErrors) {
      report_.errors.push_back(std::move(line));
    } else {
      ++report_.more_errors;
    }
  }

  // --- keys --------------------------------------------------------------------------------

  // The config opened, and one key with it (Repository::Open). Every key file must be whole (its
  // bytes hash to its name) and its header must read: another password's key cannot be opened
  // here, but a damaged one is one password fewer that opens the repository.
  Status CheckKeys() {
    MetadataStore metadata = repo_.metadata();
    ASSIGN_OR_RETURN(std::vector<FileInfo> files, repo_.backend().List(FileType::kKey));
    for (const FileInfo& f : files) {
      const std::optional<Id> id = Id::ParseHex(f.name);
      if (!id) continue;
      auto bytes = metadata.Read(FileType::kKey, *id);
      Status s = bytes.ok() ? ReadKeyFileInfo(*bytes).status() : bytes.status();
      if (s.ok()) {
        ++report_.keys;
        continue;
      }
      if (s.IsNotFound()) continue;  // removed since the listing
      if (!IsDamage(s) && s.code() != StatusCode::kUnsupportedVersion) return s;
      Error("key " + id->ShortHex() + ": " + s.message() +
            " (the password it held no longer opens "
            "the repository; `repo key add` another before the last one is lost)");
    }
    return Status::OK();
  }

  // --- index files and packs ------------------------------------------------------------------

  Status CheckIndexAndPacks() {
    Backend& backend = repo_.backend();
    // The index first: every pack an index file listed here names was written before it, so
    // the pack listing below has it.
    ASSIGN_OR_RETURN(std::vector<FileInfo> index_files, backend.List(FileType::kIndex));
    Phase(CheckProgress::kIndex, index_files.size());
    std::vector<IndexedPack> indexed;
    std::unordered_set<Id, IdHash> superseded;
    for (const FileInfo& f : index_files) {
      const std::optional<Id> parsed = Id::ParseHex(f.name);
      if (!parsed) continue;  // backends list valid names only
      const Id id = *parsed;
      auto file = repo_.ReadIndexFile(id);
      Step();
      if (!file.ok()) {
        if (file.status().IsNotFound()) continue;  // replaced and removed since the listing
        if (!IsDamage(file.status())) return file.status();
        Error(file.status().message() + " (`repo repair index` writes the index anew)");
        ++report_.unreadable_index_files;
        continue;
      }
      ++report_.index_files;
      superseded.insert(file->supersedes.begin(), file->supersedes.end());
      std::map<Id, PackDigest> per_pack;
      for (const IndexEntry& e : file->entries) per_pack[e.loc.pack].Add(e);
      for (const auto& [pack, digest] : per_pack) indexed.push_back({pack, id, digest});
    }
    // A replaced file still there says nothing the file replacing it does not.
    std::erase_if(indexed, [&](const IndexedPack& p) { return superseded.count(p.file) > 0; });
    std::sort(indexed.begin(), indexed.end(),
              [](const IndexedPack& a, const IndexedPack& b) { return a.pack < b.pack; });

    ASSIGN_OR_RETURN(std::vector<FileInfo> pack_files, backend.List(FileType::kPack));
    std::vector<Id> packs;
    packs.reserve(pack_files.size());
    for (const FileInfo& f : pack_files) {
      if (std::optional<Id> id = Id::ParseHex(f.name)) packs.push_back(*id);
    }
    std::sort(packs.begin(), packs.end());
    pack_files.clear();
    listed_packs_ = packs;

    Phase(CheckProgress::kPacks, packs.size());
    auto next = indexed.begin();
    for (const Id& pack : packs) {
      if (walk_failed_) return Status::OK();  // Run returns the walker's error
      // Index files naming packs before this one, which the listing does not have.
      for (; next != indexed.end() && next->pack < pack; ++next) {
        RETURN_IF_ERROR(PackMissing(*next));
      }
      auto end = next;
      while (end != indexed.end() && end->pack == pack) ++end;
      Step();
      if (next == end) {
        report_.unreferenced_packs.push_back(pack);
        continue;
      }
      RETURN_IF_ERROR(ComparePack(pack, {next, end}));
      next = end;
    }
    for (; next != indexed.end(); ++next) RETURN_IF_ERROR(PackMissing(*next));
    return Status::OK();
  }

  // Reads the header of `pack` and compares it with what each of `claims` (index files naming
  // it) says.
  Status ComparePack(const Id& pack, std::span<const IndexedPack> claims) {
    auto header = ReadPackHeader(repo_.backend(), repo_.keys().enc_key, pack);
    if (!header.ok()) {
      if (header.status().IsNotFound()) {  // gone since the listing
        for (const IndexedPack& c : claims) RETURN_IF_ERROR(PackGone(c));
        return Status::OK();
      }
      if (!IsDamage(header.status())) return header.status();
      Error(header.status().message() + "; every blob in it is lost");
      bad_packs_.insert(pack);
      report_.damaged_packs.push_back(pack);
      return Status::OK();
    }
    ++report_.packs;
    PackDigest digest;
    for (const IndexEntry& e : *header) digest.Add(e);
    for (const IndexedPack& c : claims) {
      if (c.digest == digest) continue;
      RETURN_IF_ERROR(ComparePackEntries(pack, c.file, *header));
    }
    return Status::OK();
  }

  // The rare path: index file `file` and the header of `pack` disagree. Blobs the file lists
  // that the header does not are lost; blobs only the header lists are merely unindexed.
  Status ComparePackEntries(const Id& pack, const Id& file, const std::vector<IndexEntry>& header) {
    auto index = repo_.ReadIndexFile(file);
    if (!index.ok()) {
      if (IsDamage(index.status())) return Status::OK();  // gone or damaged since: said above
      return index.status();
    }
    auto key = [](const IndexEntry& e) {
      return std::make_tuple(e.blob, e.loc.offset, e.loc.length, e.loc.raw_length,
                             static_cast<int>(e.loc.type), e.loc.flags);
    };
    std::set<decltype(key(header[0]))> in_header;
    for (const IndexEntry& e : header) in_header.insert(key(e));
    uint64_t absent = 0, listed = 0;
    for (const IndexEntry& e : index->entries) {
      if (e.loc.pack != pack) continue;
      ++listed;
      if (in_header.count(key(e))) continue;
      ++absent;
      bad_blobs_.emplace(BlobInPack(e.blob, pack),
                         "pack " + pack.ShortHex() + " does not hold it where " +
                             MetadataStore::Describe(FileType::kIndex, file) + " says");
    }
    if (absent > 0) {
      Error("pack " + pack.ShortHex() + ": " + std::to_string(absent) + " of the " +
            std::to_string(listed) + " blobs " + MetadataStore::Describe(FileType::kIndex, file) +
            " lists in it are not in its header");
    }
    return Status::OK();
  }

  // Index file claim.file names a pack the listing does not have.
  Status PackMissing(const IndexedPack& claim) {
    auto pack = repo_.backend().Stat({FileType::kPack, claim.pack.Hex()});
    if (pack.ok()) {  // written after the listing: compare it after all
      return ComparePack(claim.pack, {&claim, 1});
    }
    if (!pack.status().IsNotFound()) return pack.status();
    return PackGone(claim);
  }

  // Pack claim.pack is not there: every blob in it is lost, whatever the index says now (a cache
  // may still name it). The error names the index file, unless it was replaced meanwhile.
  Status PackGone(const IndexedPack& claim) {
    if (!bad_packs_.insert(claim.pack).second) return Status::OK();
    auto file = repo_.backend().Stat({FileType::kIndex, claim.file.Hex()});
    if (!file.ok() && !file.status().IsNotFound()) return file.status();
    Error("pack " + claim.pack.ShortHex() + ": missing" +
          (file.ok() ? "; " + MetadataStore::Describe(FileType::kIndex, claim.file) + " lists " +
                           std::to_string(claim.digest.count) + " blobs in it"
                     : std::string()));
    return Status::OK();
  }

  // Whether the pack a cache location names can be trusted: one the check compared with the index
  // (listed, header read), or one written since the listing. A pack that is not there is lost,
  // and said once (the cache still names it: its index file was replaced or is unreadable).
  Result<bool> PackUsable(const Id& pack) {
    if (bad_packs_.count(pack)) return false;
    if (std::binary_search(listed_packs_.begin(), listed_packs_.end(), pack)) return true;
    if (later_packs_.count(pack)) return true;
    auto st = repo_.backend().Stat({FileType::kPack, pack.Hex()});
    if (st.ok()) {
      later_packs_.insert(pack);
      return true;
    }
    if (!st.status().IsNotFound()) return st.status();
    bad_packs_.insert(pack);
    Error("pack " + pack.ShortHex() + ": missing; the index cache names it");
    return false;
  }

  static std::string BlobInPack(const Id& blob, const Id& pack) {
    std::string key(reinterpret_cast<const char*>(blob.data()), Id::kSize);
    key.append(reinterpret_cast<const char*>(pack.data()), Id::kSize);
    return key;
  }

  // --- --read-data ---------------------------------------------------------------------------

  // Reads the packs the options choose, whole, on one thread per core: each must hash to its
  // name, and each blob its header lists must open, decompress and hash to its id. The blobs
  // that do not are lost (the walk then names their files).
  Status ReadData() {
    if (options_.read_data == CheckOptions::ReadData::kNone) return Status::OK();
    const std::string record_path = repo_.CacheDir() + "/verified-packs";
    VerifiedPacks verified = LoadVerifiedPacks(record_path);
    ASSIGN_OR_RETURN(std::vector<Id> chosen, ChoosePacks(verified));
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::seconds(options_.budget_seconds);
    Phase(CheckProgress::kReadData, chosen.size());
    const size_t threads = std::min<size_t>(
        chosen.size(), options_.threads > 0 ? static_cast<size_t>(options_.threads)
                                            : std::max(1u, std::thread::hardware_concurrency()));
    std::atomic<size_t> next{0};
    std::mutex mu;  // guards failed, sound, and what the workers add to report_ and bad_blobs_
    Status failed = Status::OK();
    std::vector<Id> sound, unsound;  // read whole: nothing damaged; something damaged
    auto worker = [&] {
      Bytes bytes;
      std::vector<Bytes> plain;
      for (size_t i; !walk_failed_ && (i = next.fetch_add(1)) < chosen.size();) {
        if (options_.budget_seconds > 0 && std::chrono::steady_clock::now() >= deadline) return;
        PackVerdict v;
        Status s = ReadPack(chosen[i], &bytes, &plain, &v);
        Step();
        std::lock_guard<std::mutex> lock(mu);
        if (!s.ok()) {
          if (failed.ok()) failed = s;
          next = chosen.size();
          return;
        }
        if (!v.gone)
          (v.unreadable.empty() && v.damaged.empty() ? sound : unsound).push_back(chosen[i]);
        Record(chosen[i], std::move(v));
      }
    };
    {
      std::vector<std::jthread> helpers;
      for (size_t t = 1; t < threads; ++t) helpers.emplace_back(worker);
      worker();
    }
    RETURN_IF_ERROR(failed);
    // Remembered: the packs found sound now, and what was known of the others still listed; a
    // damaged one counts as never read, so that a budget run reads it first next time.
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    for (const Id& p : sound) verified[p] = now;
    for (const Id& p : unsound) verified.erase(p);
    for (const Id& p : bad_packs_) verified.erase(p);  // missing, or its header unreadable
    VerifiedPacks kept;
    report_.never_read_packs = 0;
    report_.oldest_read_s = 0;
    for (const Id& p : listed_packs_) {
      if (Unreferenced(p)) continue;  // never read (ChoosePacks)
      auto it = verified.find(p);
      if (it == verified.end()) {
        ++report_.never_read_packs;
        continue;
      }
      kept.insert(*it);
      if (report_.oldest_read_s == 0 || it->second < report_.oldest_read_s) {
        report_.oldest_read_s = it->second;
      }
    }
    Status saved = SaveVerifiedPacks(record_path, kept);
    if (!saved.ok())
      report_.notes.push_back("not remembered which packs were read: " + saved.message());
    return Status::OK();
  }

  // Most bytes of a pack --read-data holds at once per reader.
  static constexpr uint64_t kReadRegion = 4 << 20;

  bool Unreferenced(const Id& pack) const {
    return std::binary_search(report_.unreferenced_packs.begin(), report_.unreferenced_packs.end(),
                              pack);
  }

  // The packs --read-data reads, in the order it reads them.
  Result<std::vector<Id>> ChoosePacks(const VerifiedPacks& verified) {
    // Not a bad pack (said already), nor one no index file names (nothing relies on it: a
    // running writer's, or what an interrupted writer or repair left for prune).
    std::vector<Id> candidates;
    for (const Id& pack : listed_packs_) {
      if (!bad_packs_.count(pack) && !Unreferenced(pack)) candidates.push_back(pack);
    }
    std::vector<Id> chosen;
    switch (options_.read_data) {
      case CheckOptions::ReadData::kNone:
        return chosen;
      case CheckOptions::ReadData::kAll:
        return candidates;
      case CheckOptions::ReadData::kSubset:
        for (const Id& pack : candidates) {
          if (InReadDataSubset(pack, options_.subset_n, options_.subset_m)) chosen.push_back(pack);
        }
        return chosen;
      case CheckOptions::ReadData::kPercent: {
        std::mt19937_64 rng(std::random_device{}());
        std::uniform_real_distribution<double> coin(0, 100);
        for (const Id& pack : candidates) {
          if (coin(rng) < options_.percent) chosen.push_back(pack);
        }
        return chosen;
      }
      case CheckOptions::ReadData::kBudget:
        break;
    }
    // Never read first, then read longest ago; up to the byte budget (at least one pack).
    auto read_at = [&](const Id& p) {
      auto it = verified.find(p);
      return it == verified.end() ? int64_t{0} : it->second;
    };
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](const Id& a, const Id& b) { return read_at(a) < read_at(b); });
    if (options_.budget_bytes == 0) return candidates;
    uint64_t total = 0;
    for (const Id& pack : candidates) {
      auto st = repo_.backend().Stat({FileType::kPack, pack.Hex()});
      if (!st.ok()) {
        if (st.status().IsNotFound()) continue;  // gone since the listing
        return st.status();
      }
      const uint64_t size = st->size.value_or(0);
      if (!chosen.empty() && total + size > options_.budget_bytes) break;
      total += size;
      chosen.push_back(pack);
    }
    return chosen;
  }

  // What reading one pack found.
  struct PackVerdict {
    bool gone = false;       // deleted since the listing
    std::string unreadable;  // the header does not open: every blob in it is lost
    uint64_t bytes = 0, blobs = 0;
    std::vector<std::pair<Id, std::string>> damaged;  // blobs that fail, and why
  };

  // Reads pack `pack` and checks it (no shared state: runs on a worker): its header (from its
  // tail), then its blobs in regions of up to kReadRegion bytes through *bytes, so that a reader
  // holds a region of a pack, not the pack.
  Status ReadPack(const Id& pack, Bytes* bytes, std::vector<Bytes>* plain, PackVerdict* v) {
    Backend& backend = repo_.backend();
    const FileHandle h{FileType::kPack, pack.Hex()};
    auto gone_or_unreadable = [&](const Status& s) {
      if (s.IsNotFound()) v->gone = true;  // deleted since the listing
      if (s.IsCorruption()) v->unreadable = s.message();
      return IsDamage(s) ? Status::OK() : s;
    };
    auto size = backend.Stat(h);
    if (!size.ok()) return gone_or_unreadable(size.status());
    // The header's entries tile the blob area exactly (DecodePackHeader checks it), and the
    // header and the trailer are read with it: every byte of the pack is read and
    // authenticated, so no hash of the whole pack is taken (it would add a third of the CPU to
    // say only that the file is filed under another name, which costs nothing: the index names
    // it as it is filed).
    auto header = ReadPackHeader(backend, repo_.keys().enc_key, pack);
    if (!header.ok()) return gone_or_unreadable(header.status());
    v->bytes = size->size.value_or(0);
    const MasterKeys& keys = repo_.keys();
    const std::vector<IndexEntry>& entries = *header;
    std::vector<SealedBlob> batch;
    for (size_t b = 0; b < entries.size();) {
      // A region: the blobs from b on, up to kReadRegion bytes of them (at least one).
      const uint64_t start = entries[b].loc.offset;
      size_t end = b + 1;
      while (end < entries.size() &&
             entries[end].loc.offset + entries[end].loc.length - start <= kReadRegion) {
        ++end;
      }
      const uint64_t length = entries[end - 1].loc.offset + entries[end - 1].loc.length - start;
      Status read = backend.ReadInto(h, start, length, bytes);
      if (!read.ok()) return gone_or_unreadable(read);
      // Batches of one type, as the read seam opens them.
      for (size_t i = b; i < end;) {
        batch.clear();
        const BlobType type = entries[i].loc.type;
        size_t j = i;
        for (; j < end && j - i < 32 && entries[j].loc.type == type; ++j) {
          const BlobLocation& loc = entries[j].loc;
          batch.push_back({entries[j].blob, loc.flags, loc.raw_length,
                           ByteSpan(*bytes).subspan(loc.offset - start, loc.length)});
        }
        v->blobs += j - i;
        if (!DecodeBlobs(keys, type, batch, plain).ok()) {
          for (const SealedBlob& blob : batch) {  // which of them
            auto one = DecodeBlob(keys, type, blob.id, blob.flags, blob.raw_length, blob.sealed);
            if (!one.ok()) v->damaged.emplace_back(blob.id, one.status().message());
          }
        }
        i = j;
      }
      b = end;
    }
    return Status::OK();
  }

  // Adds what reading `pack` found to the report. REQUIRES: the caller serialises calls.
  void Record(const Id& pack, PackVerdict v) {
    if (v.gone) return;  // removed since the listing: nothing to say about it
    const std::string name = "pack " + pack.ShortHex();
    if (!v.unreadable.empty()) {
      Error(v.unreadable + "; every blob in it is lost");
      bad_packs_.insert(pack);
      report_.damaged_packs.push_back(pack);
      return;
    }
    ++report_.packs_read;
    report_.bytes_read += v.bytes;
    report_.blobs_read += v.blobs;
    if (!v.damaged.empty()) {
      report_.damaged_packs.push_back(pack);
      Error(name + ": " + std::to_string(v.damaged.size()) + " of " + std::to_string(v.blobs) +
            " blobs are damaged (first: " + v.damaged[0].second + ")");
    }
    for (auto& [blob, why] : v.damaged) bad_blobs_.emplace(BlobInPack(blob, pack), std::move(why));
  }

  // --- snapshots and trees --------------------------------------------------------------------

  // On the walker thread: reads every snapshot record (from the repository, never the local
  // snapshot cache), then walks their trees, collecting every content reference. Its errors go to
  // walk_errors_; it reports progress only once the other thread is done with its own.
  Status ReadSnapshotsAndWalk(std::vector<SnapshotRef>* snapshots) {
    MetadataStore metadata = repo_.metadata();
    ASSIGN_OR_RETURN(std::vector<FileInfo> files, repo_.backend().List(FileType::kSnapshot));
    for (const FileInfo& f : files) {
      if (stop_walk_) return Status::OK();
      const std::optional<Id> parsed = Id::ParseHex(f.name);
      if (!parsed) continue;
      auto s = ReadSnapshot(metadata, *parsed);
      if (!s.ok()) {
        if (s.status().IsNotFound()) continue;  // removed since the listing (forget, tag)
        if (!IsDamage(s.status())) return s.status();
        WalkError(s.status().message() + "; the whole snapshot is lost");
        continue;
      }
      snapshots->push_back({*parsed, std::move(*s)});
    }
    report_.snapshots = snapshots->size();
    std::sort(snapshots->begin(), snapshots->end(), [](const SnapshotRef& a, const SnapshotRef& b) {
      return std::tie(a.snapshot.time_ns, a.id) < std::tie(b.snapshot.time_ns, b.id);
    });
    walk_total_ = snapshots->size();
    for (const SnapshotRef& s : *snapshots) {
      if (stop_walk_) return Status::OK();
      RETURN_IF_ERROR(Collect(s.snapshot.tree, 0));
      ++walked_;
      if (walk_reports_ && progress_) progress_->done = walked_.load();
    }
    report_.data_blob_refs = refs_.added();
    return Status::OK();
  }

  // The walker's errors, kept apart so that the report lists them after the index's and packs'
  // in a fixed order.
  void WalkError(std::string line) {
    if (walk_errors_.size() < kMaxErrors) {
      walk_errors_.push_back(std::move(line));
    } else {
      ++walk_more_errors_;
    }
  }

  // After both threads: the references resolved against the index; only if something is lost
  // are the trees walked again to name the files.
  Status ResolveAndName(std::vector<SnapshotRef>* snapshots) {
    RETURN_IF_ERROR(Resolve());
    report_.lost_packs = bad_packs_.size();
    for (const auto& [blob, why] : lost_) report_.lost_blobs.push_back(blob);
    std::sort(report_.lost_blobs.begin(), report_.lost_blobs.end());
    if (!walk_damage_ && lost_.empty()) return Status::OK();

    Phase(CheckProgress::kDamage, snapshots->size());
    for (SnapshotRef& s : *snapshots) {
      ASSIGN_OR_RETURN(const DirDamage* damage, Dir(s.snapshot.tree, 0));
      Step();
      if (!damage) continue;
      DamagedSnapshot d{s.id, std::move(s.snapshot), {}, damage->more};
      for (const DamagedPath& p : damage->paths) {
        d.paths.push_back(p);
        d.paths.back().path = "/" + p.path;
      }
      report_.damaged.push_back(std::move(d));
    }
    return Status::OK();
  }

  // Walks the listing `tree` (`depth` directories below a snapshot's root) unless it was walked
  // before, reading every listing and content list below it (each distinct one once) and adding
  // every content reference to refs_. A listing or content list that cannot be read is an error
  // (and the walk goes on beside it).
  Status Collect(const std::vector<Id>& tree, size_t depth) {
    if (!collected_.insert(TreeKey(tree)).second) return Status::OK();
    ++report_.directories;
    // Messages name the listing, not a path: the listing may be held by many.
    ListingReader listing(store_, tree, "directory listing");
    for (Node n;;) {
      auto more = listing.Next(&n);
      if (!more.ok()) return WalkDamage(more.status());
      if (!*more) return Status::OK();
      if (n.type == NodeType::kDir) {
        if (depth < kMaxDepth) {
          RETURN_IF_ERROR(Collect(n.subtree, depth + 1));
        } else if (!too_deep_reported_) {
          too_deep_reported_ = true;
          RETURN_IF_ERROR(WalkDamage(Status::Corruption(TooDeep())));
        }
        continue;
      }
      if (n.type != NodeType::kFile) continue;
      if (!n.content.list) {
        for (const ContentRun& r : n.content.runs) {
          if (!r.hole) RETURN_IF_ERROR(refs_.Add(r.blob));
        }
        continue;
      }
      if (!collected_.insert(ListKey(n)).second) continue;
      ContentReader content(store_, n, "content list");
      for (ContentRun r;;) {
        auto more_runs = content.Next(&r);
        if (!more_runs.ok()) {
          RETURN_IF_ERROR(WalkDamage(more_runs.status()));
          break;
        }
        if (!*more_runs) break;
        if (!r.hole) RETURN_IF_ERROR(refs_.Add(r.blob));
      }
    }
  }

  // A listing or content list that could not be read: an error line, and the trees are walked
  // again to name the paths. Anything but damage stops the check.
  Status WalkDamage(const Status& s) {
    if (!IsDamage(s)) return s;
    WalkError(s.message());
    walk_damage_ = true;
    return Status::OK();
  }

  static std::string TooDeep() {
    return "nested deeper than " + std::to_string(kMaxDepth) + " directories: not walked";
  }

  // A content list by id and file size (the reader checks that the list covers the size).
  static std::string ListKey(const Node& n) {
    std::string key(reinterpret_cast<const char*>(n.content.list->data()), Id::kSize);
    key.append(reinterpret_cast<const char*>(&n.size), sizeof n.size);
    return key;
  }

  // Every reference collected, in id order, against the index in one ordered pass; a reference
  // not found is looked for again after the index is re-listed (BlobStore::FindMany). The lost
  // ones go to lost_.
  Status Resolve() {
    Phase(CheckProgress::kRefs, refs_.added());
    ASSIGN_OR_RETURN(std::unique_ptr<IndexCache::SortedReader> reader, store_.ReadSorted());
    std::vector<Id> chunk, missing;
    std::vector<std::optional<BlobLocation>> found;
    for (bool first = true;; first = false) {
      ASSIGN_OR_RETURN(bool more, refs_.Next(kResolveChunk, &chunk));
      // Distinct references, once the sorter knows (up to repeats across its spilled runs).
      if (first && progress_) progress_->total = refs_.unique_bound();
      if (!more) break;
      RETURN_IF_ERROR(reader->Find(chunk, &found));
      for (size_t i = 0; i < chunk.size(); ++i) {
        if (!found[i]) {
          missing.push_back(chunk[i]);
        } else {
          RETURN_IF_ERROR(Judge(chunk[i], *found[i]));
        }
      }
      if (missing.size() >= kLookupBatch) RETURN_IF_ERROR(ResolveMissing(&missing));
      if (progress_) progress_->done += chunk.size();
    }
    return ResolveMissing(&missing);
  }

  Status ResolveMissing(std::vector<Id>* missing) {
    if (missing->empty()) return Status::OK();
    std::vector<std::optional<BlobLocation>> found;
    RETURN_IF_ERROR(store_.FindMany(*missing, &found));  // re-lists the index first
    for (size_t i = 0; i < missing->size(); ++i) {
      const Id& blob = (*missing)[i];
      if (found[i]) {
        RETURN_IF_ERROR(Judge(blob, *found[i]));
        continue;
      }
      const std::string why = "data blob " + blob.ShortHex() + " is not in the index";
      Error(why);
      lost_.emplace(blob, why);
    }
    missing->clear();
    return Status::OK();
  }

  // Whether data blob `blob`, which the index puts at `loc`, is lost, and why.
  Status Judge(const Id& blob, const BlobLocation& loc) {
    if (loc.type != BlobType::kData) {
      const std::string why = "blob " + blob.ShortHex() + " is a tree blob, not data";
      Error(why);
      lost_.emplace(blob, why);
      return Status::OK();
    }
    ASSIGN_OR_RETURN(bool usable, PackUsable(loc.pack));
    if (!usable) {
      lost_.emplace(blob, "data blob " + blob.ShortHex() + " was in pack " + loc.pack.ShortHex());
    } else if (auto it = bad_blobs_.find(BlobInPack(blob, loc.pack)); it != bad_blobs_.end()) {
      lost_.emplace(blob, "data blob " + blob.ShortHex() + ": " + it->second);
    }
    return Status::OK();
  }

  // Walks the listing `tree` again (`depth` directories below a snapshot's root) to name what
  // it lost, unless it was walked for that before; returns its damage, or nullptr if it has
  // none. The errors were said by Collect.
  Result<const DirDamage*> Dir(const std::vector<Id>& tree, size_t depth) {
    std::string key = TreeKey(tree);
    if (clean_dirs_.count(key)) return nullptr;
    if (auto it = damaged_dirs_.find(key); it != damaged_dirs_.end()) return &it->second;

    DirDamage damage;
    // The files of this listing whose runs are pending (by index), until their lookup.
    std::vector<DamagedPath> files;
    std::vector<PendingRun> pending;
    auto add_child = [&](const std::string& name, const DirDamage& child) {
      for (const DamagedPath& p : child.paths) {
        if (damage.paths.size() >= kMaxDamagedPaths) {
          ++damage.more;
          continue;
        }
        damage.paths.push_back(p);
        damage.paths.back().path = name + "/" + p.path;
      }
      damage.more += child.more;
    };

    // Messages name the listing, not this path: the result is shared by every path holding it.
    ListingReader listing(store_, tree, "directory listing");
    Status walk = Status::OK();
    for (Node n;;) {
      auto more = listing.Next(&n);
      if (!more.ok()) {
        walk = more.status();
        break;
      }
      if (!*more) break;
      if (n.type == NodeType::kFile) {
        RETURN_IF_ERROR(File(n, &files, &pending));
        if (pending.size() >= kLookupBatch) RETURN_IF_ERROR(Flush(&pending, &files, &damage));
      } else if (n.type == NodeType::kDir) {
        const DirDamage* child = &too_deep_;
        if (depth < kMaxDepth) {
          ASSIGN_OR_RETURN(child, Dir(n.subtree, depth + 1));
        } else if (too_deep_.paths.empty()) {
          DamagedPath p;
          p.listing = true;
          p.why = TooDeep();
          too_deep_.paths.push_back(p);
        }
        if (child) {
          RETURN_IF_ERROR(Flush(&pending, &files, &damage));  // keep the paths in walk order
          add_child(n.name, *child);
        }
      }
    }
    RETURN_IF_ERROR(Flush(&pending, &files, &damage));
    if (!walk.ok()) {
      if (!IsDamage(walk)) return walk;
      DamagedPath p;
      p.listing = true;
      p.why = walk.message();
      damage.paths.insert(damage.paths.begin(), std::move(p));  // the directory itself: ""
    }
    if (damage.paths.empty() && damage.more == 0) {
      clean_dirs_.insert(std::move(key));
      return nullptr;
    }
    return &damaged_dirs_.emplace(std::move(key), std::move(damage)).first->second;
  }

  // Looks the pending runs up, then moves the files that lost pieces into *damage and forgets
  // the rest: a listing of a million files holds at most a batch of them at a time.
  Status Flush(std::vector<PendingRun>* pending, std::vector<DamagedPath>* files,
               DirDamage* damage) {
    RETURN_IF_ERROR(Lookup(pending, files));
    for (DamagedPath& f : *files) {
      if (f.blobs == 0 && f.why.empty()) continue;
      if (damage->paths.size() >= kMaxDamagedPaths) {
        ++damage->more;
        continue;
      }
      damage->paths.push_back(std::move(f));
    }
    files->clear();
    return Status::OK();
  }

  // Queues the content of file `n` for lookup. A content list is read (and its blobs checked)
  // once however many listings hold the file.
  Status File(const Node& n, std::vector<DamagedPath>* files, std::vector<PendingRun>* pending) {
    const size_t index = files->size();
    DamagedPath entry;
    entry.path = n.name;
    files->push_back(std::move(entry));
    if (!n.content.list) {
      uint64_t offset = 0;
      for (const ContentRun& r : n.content.runs) {
        if (!r.hole) pending->push_back({r.blob, offset, r.length, index});
        offset += r.length;
      }
      return Status::OK();
    }
    const std::string list = ListKey(n);
    if (auto it = content_lists_.find(list); it != content_lists_.end()) {
      DamagedPath& f = (*files)[index];
      f.blobs = it->second.blobs;
      f.bytes = it->second.bytes;
      f.first_offset = it->second.first_offset;
      f.why = it->second.why;
      return Status::OK();
    }
    // The file's runs go through a batch of their own, so that its damage can be remembered.
    std::vector<DamagedPath> one(1);
    std::vector<PendingRun> runs;
    ContentReader content(store_, n, "content list");
    for (ContentRun r;;) {
      const uint64_t offset = content.offset();
      auto more = content.Next(&r);
      if (!more.ok()) {
        if (!IsDamage(more.status())) return more.status();
        RETURN_IF_ERROR(Lookup(&runs, &one));
        DamagedPath& f = one[0];
        if (f.blobs == 0) f.first_offset = offset;
        f.bytes += n.size - offset;  // the rest of the file cannot be found
        ++f.blobs;
        f.why = more.status().message();
        break;
      }
      if (!*more) break;
      if (!r.hole) runs.push_back({r.blob, offset, r.length, 0});
      if (runs.size() >= kLookupBatch) RETURN_IF_ERROR(Lookup(&runs, &one));
    }
    RETURN_IF_ERROR(Lookup(&runs, &one));
    DamagedPath& f = (*files)[index];
    f.blobs = one[0].blobs;
    f.bytes = one[0].bytes;
    f.first_offset = one[0].first_offset;
    f.why = one[0].why;
    content_lists_.emplace(list, ContentDamage{f.blobs, f.bytes, f.first_offset, f.why});
    return Status::OK();
  }

  // Charges the queued runs that are lost to their files; empties *pending.
  Status Lookup(std::vector<PendingRun>* pending, std::vector<DamagedPath>* files) {
    for (const PendingRun& r : *pending) {
      auto it = lost_.find(r.blob);
      if (it == lost_.end()) continue;
      const std::string& why = it->second;
      DamagedPath& f = (*files)[r.file];
      if (f.blobs == 0 || r.offset < f.first_offset) f.first_offset = r.offset;
      if (f.why.empty()) f.why = why;
      ++f.blobs;
      f.bytes += r.length;
    }
    pending->clear();
    return Status::OK();
  }

  static constexpr size_t kLookupBatch = 4096;    // references re-looked-up at once
  static constexpr size_t kResolveChunk = 65536;  // references read back from refs_ at once
  // Deepest directory walked: the recursion's bound (a hostile tree could be deeper).
  static constexpr size_t kMaxDepth = 4096;

  struct ContentDamage {
    uint64_t blobs = 0, bytes = 0, first_offset = 0;
    std::string why;
  };

  Repository& repo_;
  BlobStore& store_;
  const CheckOptions options_;
  CheckProgress* const progress_;
  CheckReport report_;
  std::vector<Id> listed_packs_;  // the pack listing, sorted
  // Packs missing or unreadable: every blob in them is lost.
  std::unordered_set<Id, IdHash> bad_packs_;
  // Blobs lost one by one in one pack (not where an index file says, or damaged), by blob and
  // pack id, and why: the same blob in another pack is not lost.
  std::unordered_map<std::string, std::string> bad_blobs_;
  std::unordered_set<Id, IdHash> reported_blobs_;  // blobs named in an error already
  std::unordered_set<Id, IdHash> later_packs_;     // packs written since the listing
  // The second walk, naming damage: listings walked, by their tree blob ids.
  std::unordered_set<std::string> clean_dirs_;
  std::unordered_map<std::string, DirDamage> damaged_dirs_;
  std::unordered_map<std::string, ContentDamage> content_lists_;  // by list id and file size
  // The walk (on its own thread until Run joins it): listings and content lists read (by tree
  // blob ids; by list id and size), every content reference, whether a listing or content list
  // could not be read, its errors and progress.
  std::unordered_set<std::string> collected_;
  std::vector<std::string> walk_errors_;
  uint64_t walk_more_errors_ = 0;
  std::atomic<bool> stop_walk_{false};     // the other thread failed: stop early
  std::atomic<bool> walk_failed_{false};   // the walker failed: the other thread stops early
  std::atomic<bool> walk_reports_{false};  // the other thread is done: show the walk's progress
  std::atomic<uint64_t> walked_{0}, walk_total_{0};
  IdSorter refs_;
  bool walk_damage_ = false;
  bool too_deep_reported_ = false;
  // Data blobs lost, and why (from Resolve): what the second walk charges to files.
  std::unordered_map<Id, std::string, IdHash> lost_;
  DirDamage too_deep_;  // what a directory below kMaxDepth reports
};

}  // namespace

bool InReadDataSubset(const Id& id, uint32_t n, uint32_t m) {
  const uint32_t prefix = uint32_t{id.data()[0]} << 24 | uint32_t{id.data()[1]} << 16 |
                          uint32_t{id.data()[2]} << 8 | id.data()[3];
  return m > 0 && prefix % m == n - 1;
}

Result<CheckReport> CheckRepository(Repository& repo, const CheckOptions& options,
                                    CheckProgress* progress) {
  repo.TolerateDamagedIndex();  // reported below, with what it costs
  ASSIGN_OR_RETURN(BlobStore * store, repo.blobs());
  Checker checker(repo, *store, options, progress);
  RETURN_IF_ERROR(checker.Run());
  return std::move(checker.report());
}

}  // namespace repo
