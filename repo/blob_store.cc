#include "repo/blob_store.h"

#include <spdlog/spdlog.h>

#include "crypto/hash.h"
#include "repo/index_file.h"

namespace repo {

BlobStore::BlobStore(Backend& backend, const MasterKeys& keys, const RepositoryConfig& config,
                     IndexCache& cache)
    : backend_(backend), keys_(keys), config_(config), cache_(cache), pack_(keys.enc_key) {}

BlobStore::~BlobStore() {
  std::lock_guard<std::mutex> lock(mu_);
  if (pack_.count() > 0 || !pending_.empty()) {
    spdlog::debug("blob store closed with {} unflushed blobs; they are not in the repository",
                  pack_.count() + pending_.size());
  }
}

Status BlobStore::FailLocked(Status s) {
  if (broken_.ok()) broken_ = s;
  return s;
}

Result<PutResult> BlobStore::Put(BlobType type, ByteSpan plaintext) {
  if (plaintext.size() > config_.pack_size) {
    return Status::InvalidArgument("blob of " + std::to_string(plaintext.size()) +
                                   " bytes exceeds the pack size");
  }
  PutResult result;
  result.id = ComputeBlobId(keys_, type, plaintext);
  ASSIGN_OR_RETURN(auto cached, cache_.Lookup(result.id));
  {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(broken_);
    if (cached || !unindexed_.try_emplace(result.id, std::nullopt).second) {
      ++stats_.blobs_deduplicated;
      return result;
    }
  }
  EncodedBlob blob = EncodeBlob(keys_, type, result.id, plaintext, config_.zstd_level);
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(broken_);
  pack_.Add(type, result.id, blob);
  result.stored = true;
  result.stored_bytes = blob.sealed.size();
  ++stats_.blobs_stored;
  stats_.bytes_stored += blob.sealed.size();
  if (pack_.size() >= config_.pack_size) RETURN_IF_ERROR(WritePackLocked());
  return result;
}

Status BlobStore::WritePackLocked() {
  if (pack_.count() == 0) return Status::OK();
  auto pack = pack_.Finish();
  if (!pack.ok()) return FailLocked(pack.status());
  Status s = backend_.Write({FileType::kPack, pack->id.Hex()}, pack->bytes);
  // The same bytes under the same name: an identical pack already exists; fine.
  if (!s.ok() && s.code() != StatusCode::kAlreadyExists) {
    return FailLocked(s.WithContext("writing pack " + pack->id.ShortHex()));
  }
  ++stats_.packs_written;
  for (const IndexEntry& e : pack->entries) {
    unindexed_[e.blob] = e.loc;
    pending_.push_back(e);
  }
  if (pending_.size() >= kIndexFileEntries) return WriteIndexLocked();
  return Status::OK();
}

Status BlobStore::WriteIndexLocked() {
  if (pending_.empty()) return Status::OK();
  Bytes file = EncodeIndexFile(keys_.enc_key, pending_);
  Id file_id = PlainHash(file);
  Status s = backend_.Write({FileType::kIndex, file_id.Hex()}, file);
  if (!s.ok() && s.code() != StatusCode::kAlreadyExists) {
    return FailLocked(s.WithContext("writing index file " + file_id.ShortHex()));
  }
  ++stats_.index_files_written;
  Status c = cache_.AddIndexFile(file_id, pending_);
  if (!c.ok()) return FailLocked(c);
  for (const IndexEntry& e : pending_) unindexed_.erase(e.blob);
  pending_.clear();
  return Status::OK();
}

Status BlobStore::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(broken_);
  RETURN_IF_ERROR(WritePackLocked());
  return WriteIndexLocked();
}

Result<std::optional<BlobLocation>> BlobStore::Find(const Id& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = unindexed_.find(id);
    if (it != unindexed_.end() && it->second) return it->second;
  }
  return cache_.Lookup(id);
}

Result<Bytes> BlobStore::Get(BlobType type, const Id& id) {
  std::optional<BlobLocation> loc;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = unindexed_.find(id);
    if (it != unindexed_.end()) {
      if (!it->second) {  // still in the open pack: write it so it can be read
        RETURN_IF_ERROR(broken_);
        RETURN_IF_ERROR(WritePackLocked());
      }
      loc = unindexed_[id];
    }
  }
  if (!loc) {
    ASSIGN_OR_RETURN(loc, cache_.Lookup(id));
  }
  if (!loc) return Status::NotFound(std::string(BlobTypeName(type)) + " blob " + id.ShortHex() +
                                    ": not in the index");
  if (loc->type != type) {
    return Status::Corruption("blob " + id.ShortHex() + ": indexed as " +
                              std::string(BlobTypeName(loc->type)) + ", wanted " +
                              std::string(BlobTypeName(type)));
  }
  ASSIGN_OR_RETURN(Bytes sealed,
                   backend_.Read({FileType::kPack, loc->pack.Hex()}, loc->offset, loc->length));
  return DecodeBlob(keys_, type, id, loc->flags, loc->raw_length, sealed);
}

BlobStoreStats BlobStore::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace repo
