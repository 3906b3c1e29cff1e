#include "repo/restorer/content_stream.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "repo/model/tree_io.h"
#include "repo/store/pack_reader.h"

namespace repo {
namespace {

// Runs located per batched index lookup.
constexpr size_t kLookupWindow = 4096;
// Pieces fetched ahead of the sink, per reader thread.
constexpr size_t kAheadPerThread = 3;

// Memory for a piece's plaintext, reused from piece to piece and never zeroed (a std::vector
// zeroes what it grows by: a whole piece each time its size went up).
class PieceBuffer {
 public:
  // The first `size` bytes, their contents unspecified until written.
  MutableByteSpan Take(size_t size) {
    if (size > capacity_) {
      capacity_ = std::max(size, PackReader::kDecodeBytes);
      bytes_.reset(new uint8_t[capacity_]);
    }
    size_ = size;
    return {bytes_.get(), size_};
  }
  ByteSpan span() const { return {bytes_.get(), size_}; }

 private:
  std::unique_ptr<uint8_t[]> bytes_;
  size_t capacity_ = 0, size_ = 0;
};

// A hole of `hole` zero bytes, or data blobs read as one piece.
struct Piece {
  uint64_t offset = 0;  // in the file
  uint64_t hole = 0;
  std::vector<IndexEntry> blobs;
  PieceBuffer data;  // the blobs' plaintext, once done
  Status status;
  uint64_t good = 0;  // on error: the bytes of `data` read before the blob that failed
  bool done = false;
};

class ContentStreamer {
 public:
  ContentStreamer(Repository& repo, BlobStore& store, const Node& file, int threads)
      : repo_(repo),
        store_(store),
        content_(store, file, file.name),
        threads_(threads),
        ahead_(kAheadPerThread * static_cast<size_t>(threads)) {}

  Status Run(const ByteSink& sink) {
    std::vector<std::jthread> readers;
    for (int i = 0; i < threads_; ++i) readers.emplace_back([this] { Reader(); });
    Status s = Deliver(sink);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    return s;  // the readers are joined here, before the pieces go
  }

 private:
  // The calling thread: plans pieces a window at a time and gives them to the sink in order.
  Status Deliver(const ByteSink& sink) {
    static const Bytes kZeros(1 << 20, 0);
    for (;;) {
      size_t waiting;
      {
        std::lock_guard<std::mutex> lock(mu_);
        waiting = pieces_.size();
      }
      if (waiting < ahead_ && !content_done_) {
        RETURN_IF_ERROR(PlanWindow());
        continue;
      }
      if (waiting == 0) return Status::OK();
      Piece* piece;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return pieces_.front().done; });
        piece = &pieces_.front();  // done: no reader touches it any more
      }
      if (!piece->status.ok()) {
        // What was read before the blob that failed goes out first.
        if (piece->good > 0) RETURN_IF_ERROR(sink(piece->data.span().first(piece->good)));
        return AtOffset(piece->offset + piece->good, piece->status);
      }
      for (uint64_t left = piece->hole; left > 0;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kZeros.size()));
        RETURN_IF_ERROR(sink(ByteSpan(kZeros.data(), n)));
        left -= n;
      }
      if (!piece->blobs.empty()) RETURN_IF_ERROR(sink(piece->data.span()));
      {
        // Only now is its slot free, with its buffer back among the spares for the reader that
        // claims the next piece.
        std::lock_guard<std::mutex> lock(mu_);
        if (!piece->blobs.empty() && spare_.size() < ahead_) {
          spare_.push_back(std::move(piece->data));
        }
        pieces_.pop_front();
        ++delivered_;
        claimed_ = std::max(claimed_, delivered_);  // a hole may be delivered before its claim
      }
      cv_.notify_all();  // a reader may claim one more
    }
  }

  // Reads the next window of runs, locates them (one batched lookup) and appends their pieces: a
  // hole each, or the longest stretches of blobs back to back in one pack within PackReader's
  // read and decode bounds.
  Status PlanWindow() {
    window_.clear();
    ids_.clear();
    // Content that cannot be planned (a content list that cannot be read, a blob not in the
    // index) ends the stream with a piece that carries the error: what was planned before it is
    // still delivered.
    std::optional<Piece> failure;
    auto fail = [&](uint64_t at, Status s) {
      failure.emplace();
      failure->offset = at;
      failure->status = std::move(s);
      content_done_ = true;
    };
    for (ContentRun run; window_.size() < kLookupWindow;) {
      const uint64_t at = content_.offset();
      auto more = content_.Next(&run);
      if (!more.ok()) {
        fail(at, more.status());
        break;
      }
      if (!*more) {
        content_done_ = true;
        break;
      }
      window_.push_back(run);
      if (!run.hole) ids_.push_back(run.blob);
    }
    RETURN_IF_ERROR(store_.FindMany(ids_, &locations_));
    std::vector<Piece> planned;
    size_t k = 0;  // into ids_/locations_
    uint64_t sealed = 0, raw = 0;
    for (const ContentRun& run : window_) {
      const uint64_t at = planned_offset_;
      planned_offset_ += run.length;
      if (run.hole) {
        Piece& hole = planned.emplace_back();
        hole.offset = at;
        hole.hole = run.length;
        continue;
      }
      const std::optional<BlobLocation>& loc = locations_[k++];
      if (!loc) {
        fail(at, Status::Corruption("data blob " + run.blob.ShortHex() +
                                    " is not in the index: the repository is damaged"));
        break;
      }
      if (loc->type != BlobType::kData) {
        fail(at, Status::Corruption("blob " + run.blob.ShortHex() + ": indexed as " +
                                    std::string(BlobTypeName(loc->type)) + ", wanted data"));
        break;
      }
      Piece* last = planned.empty() || planned.back().blobs.empty() ? nullptr : &planned.back();
      const bool joins =
          last && last->blobs.back().loc.pack == loc->pack &&
          last->blobs.back().loc.offset + last->blobs.back().loc.length == loc->offset &&
          sealed + loc->length <= PackReader::kMaxRead &&
          raw + loc->raw_length <= PackReader::kDecodeBytes;
      if (!joins) {
        planned.emplace_back().offset = at;
        sealed = raw = 0;
      }
      planned.back().blobs.push_back(IndexEntry{run.blob, *loc});
      sealed += loc->length;
      raw += loc->raw_length;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (Piece& p : planned) {
        p.done = p.blobs.empty();  // holes need no reader
        pieces_.push_back(std::move(p));
      }
      if (failure) {
        failure->done = true;  // no reader: Deliver stops at it
        pieces_.push_back(std::move(*failure));
      }
    }
    cv_.notify_all();
    return Status::OK();
  }

  // What failed, and from where in the file the content could not be read (the sink has every
  // byte before it).
  static Status AtOffset(uint64_t offset, const Status& s) {
    return s.WithContext("content lost from offset " + std::to_string(offset));
  }

  // A reader thread: claims the next piece not yet fetched, within ahead_ of the sink.
  void Reader() {
    PackReader reader(repo_.backend(), repo_.keys());
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || Claimable(); });
      if (stop_) return;
      Piece& p = pieces_[claimed_ - delivered_];  // deque: stays put while others are added
      ++claimed_;
      if (p.done) continue;  // a hole
      if (!spare_.empty()) {
        p.data = std::move(spare_.back());
        spare_.pop_back();
      }
      lock.unlock();
      uint64_t raw = 0;
      for (const IndexEntry& e : p.blobs) raw += e.loc.raw_length;
      const MutableByteSpan out = p.data.Take(raw);
      Status s = reader.ReadInto(p.blobs, out);
      uint64_t good = 0;
      if (!s.ok()) {  // which blob: the ones before it are delivered, the error names its offset
        for (const IndexEntry& e : p.blobs) {
          s = reader.ReadInto({&e, 1}, out.subspan(good, e.loc.raw_length));
          if (!s.ok()) break;
          good += e.loc.raw_length;
        }
      }
      lock.lock();
      p.status = s;
      p.good = good;
      p.done = true;
      cv_.notify_all();
    }
  }
  // REQUIRES: mu_ held.
  bool Claimable() const {
    return claimed_ < delivered_ + pieces_.size() && claimed_ < delivered_ + ahead_;
  }

  Repository& repo_;
  BlobStore& store_;
  ContentReader content_;  // the runs not yet planned (calling thread only)
  bool content_done_ = false;
  uint64_t planned_offset_ = 0;  // of the next run to plan
  const int threads_;
  const size_t ahead_;
  std::vector<ContentRun> window_;  // PlanWindow's, reused
  std::vector<Id> ids_;
  std::vector<std::optional<BlobLocation>> locations_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Piece> pieces_;  // planned, not yet delivered; front() is piece number delivered_
  size_t delivered_ = 0;      // pieces given to the sink
  size_t claimed_ = 0;        // pieces taken by readers (or skipped as holes): the next to take
  bool stop_ = false;
  // Buffers of delivered pieces: at most one per piece in flight, reused so that streaming a file
  // of any size allocates (and page-faults) its buffers once.
  std::vector<PieceBuffer> spare_;
};

}  // namespace

Status StreamContent(Repository& repo, const Node& file, const ByteSink& sink, int threads) {
  if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  ASSIGN_OR_RETURN(BlobStore * store, repo.blobs());
  ContentStreamer streamer(repo, *store, file, threads);
  return streamer.Run(sink);
}

}  // namespace repo
