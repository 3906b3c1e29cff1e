#include "repo/restorer/snapshot_file.h"

#include <algorithm>
#include <utility>

namespace repo {
namespace {

// Runs read from the content list and located per batched index lookup.
constexpr size_t kLocateBatch = 256;
// Located runs kept behind the newest read: the kernel sends a sequential reader's reads on
// several threads, slightly out of order, and they should not send the window back to a seek.
constexpr uint64_t kKeepBehind = 2u << 20;
// A read this close to where the last one ended counts as sequential.
constexpr uint64_t kSequentialSlack = 1u << 20;
// Readahead starts once a reader has read this much in sequence (a seek and one read of a few
// MiB, as pg_restore makes, fetches only what it reads), then reaches as far ahead as the
// reader has read in sequence, up to the file's limit: it grows as the kernel's does.
constexpr uint64_t kReadaheadAfter = 2u << 20;
// Readahead is queued in jobs of about this much plaintext: the prefetch threads take one each.
constexpr uint64_t kPrefetchJob = 1u << 20;

const Bytes& Zeros() {
  static const Bytes zeros(256u << 10, 0);
  return zeros;
}

}  // namespace

uint64_t FileRead::size() const {
  uint64_t n = 0;
  for (ByteSpan p : pieces) n += p.size();
  return n;
}

Bytes FileRead::Join() const {
  Bytes out;
  out.reserve(size());
  for (ByteSpan p : pieces) out.insert(out.end(), p.begin(), p.end());
  return out;
}

SnapshotFile::SnapshotFile(BlobStore& store, BlobCache& cache, Node file, std::string path,
                           uint64_t readahead)
    : store_(store),
      cache_(cache),
      file_(std::move(file)),
      path_(std::move(path)),
      readahead_(readahead),
      content_(store, file_, path_) {}

Status SnapshotFile::LostAt(uint64_t offset, const Status& s) const {
  return s.WithContext(path_ + ": content from offset " + std::to_string(offset));
}

Status SnapshotFile::CoverLocked(uint64_t begin, uint64_t end) {
  end = std::min(end, file_.size);
  const uint64_t window_begin = window_.empty() ? content_.offset() : window_.front().offset;
  if (begin < window_begin || begin > content_.offset()) {
    window_.clear();
    RETURN_IF_ERROR(content_.Seek(begin));
  }
  while (!window_.empty() &&
         window_.front().offset + window_.front().run.length + kKeepBehind <= begin) {
    window_.pop_front();
  }
  std::vector<Located> batch;
  std::vector<Id> ids;
  std::vector<std::optional<BlobLocation>> locations;
  while (content_.offset() < end) {
    batch.clear();
    ids.clear();
    for (ContentRun run; batch.size() < kLocateBatch;) {
      const uint64_t at = content_.offset();
      ASSIGN_OR_RETURN(bool more, content_.Next(&run));
      if (!more) break;
      batch.push_back(Located{at, run, std::nullopt});
      if (!run.hole) ids.push_back(run.blob);
    }
    if (batch.empty()) {
      return Status::Corruption("its content ends at " + std::to_string(content_.offset()) +
                                " bytes, the file has " + std::to_string(file_.size));
    }
    RETURN_IF_ERROR(store_.FindMany(ids, &locations));
    size_t k = 0;
    for (Located& l : batch) {
      if (!l.run.hole) l.loc = locations[k++];
      window_.push_back(std::move(l));
    }
  }
  return Status::OK();
}

std::vector<IndexEntry> SnapshotFile::BlobsLocked(uint64_t begin, uint64_t end) const {
  std::vector<IndexEntry> blobs;
  for (const Located& l : window_) {
    if (l.offset >= end) break;
    if (l.offset + l.run.length <= begin || l.run.hole || !l.loc) continue;
    blobs.push_back(IndexEntry{l.run.blob, *l.loc});
  }
  return blobs;
}

Status SnapshotFile::Read(uint64_t offset, uint64_t size, FileRead* out) {
  out->pieces.clear();
  out->hold.clear();
  if (offset >= file_.size || size == 0) return Status::OK();
  const uint64_t end = offset + std::min(size, file_.size - offset);
  std::vector<Located> runs;  // those [offset, end) overlaps
  std::vector<IndexEntry> ahead;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (Status s = CoverLocked(offset, end); !s.ok()) return LostAt(offset, s);
    for (const Located& l : window_) {
      if (l.offset >= end) break;
      if (l.offset + l.run.length > offset) runs.push_back(l);
    }
    const bool sequential =
        offset <= last_end_ + kSequentialSlack && offset + kSequentialSlack >= last_end_;
    if (!sequential) {
      streak_ = 0;
      ahead_until_ = 0;
    } else {
      streak_ += end - offset;
    }
    if (sequential && readahead_ > 0 && streak_ >= kReadaheadAfter) {
      const uint64_t from = std::max(ahead_until_, end);
      const uint64_t to = std::min(file_.size, end + std::min(streak_, readahead_));
      // Queued in steps of a job at least, unless the file ends first. A failure to locate
      // what lies ahead is left to the read that gets there.
      if (to > from && (to - from >= kPrefetchJob || to == file_.size) &&
          CoverLocked(offset, to).ok()) {
        ahead = BlobsLocked(from, to);
        ahead_until_ = to;
      }
    }
    last_end_ = std::max(last_end_, end);
    if (!sequential) last_end_ = end;
  }

  std::vector<IndexEntry> blobs;
  for (const Located& l : runs) {
    if (l.run.hole) continue;
    if (!l.loc) {
      return LostAt(l.offset, Status::Corruption("data blob " + l.run.blob.ShortHex() +
                                                 " is not in the index: the repository is "
                                                 "damaged"));
    }
    if (l.loc->type != BlobType::kData || l.loc->raw_length != l.run.length) {
      return LostAt(l.offset, Status::Corruption("blob " + l.run.blob.ShortHex() +
                                                 " is not the data run the file lists"));
    }
    blobs.push_back(IndexEntry{l.run.blob, *l.loc});
  }
  if (Status s = cache_.Get(blobs, &out->hold); !s.ok()) return LostAt(offset, s);

  size_t b = 0;  // into out->hold
  for (const Located& l : runs) {
    const uint64_t from = std::max(offset, l.offset);
    const uint64_t to = std::min(end, l.offset + l.run.length);
    if (l.run.hole) {
      for (uint64_t left = to - from; left > 0;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, Zeros().size()));
        out->pieces.push_back(ByteSpan(Zeros()).first(n));
        left -= n;
      }
      continue;
    }
    const ByteSpan blob = out->hold[b++].bytes;
    out->pieces.push_back(blob.subspan(from - l.offset, to - from));
  }

  // Readahead goes out once this read has what it needs: in jobs, so each prefetch thread
  // takes one.
  for (size_t i = 0; i < ahead.size();) {
    std::vector<IndexEntry> job;
    uint64_t raw = 0;
    for (; i < ahead.size() && (job.empty() || raw < kPrefetchJob); ++i) {
      raw += ahead[i].loc.raw_length;
      job.push_back(ahead[i]);
    }
    cache_.Prefetch(std::move(job));
  }
  return Status::OK();
}

}  // namespace repo
