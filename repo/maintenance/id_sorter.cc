#include "repo/maintenance/id_sorter.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "repo/os/fd_io.h"

namespace repo {

// A spilled run: sorted unique ids in a nameless file, read back a buffer at a time.
struct IdSorter::Run {
  static constexpr size_t kBufferIds = 16384;  // 512 KiB per run while merging

  int fd = -1;
  uint64_t count = 0;  // ids in the file
  uint64_t read = 0;   // ids read from the file so far
  std::vector<Id> buf;
  size_t at = 0;  // next id of buf

  ~Run() {
    if (fd >= 0) close(fd);
  }
  bool done() const { return at == buf.size() && read == count; }
  const Id& head() const { return buf[at]; }
  // Makes head() valid unless done().
  Status Fill() {
    if (at < buf.size() || read == count) return Status::OK();
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBufferIds, count - read));
    buf.resize(n);
    ASSIGN_OR_RETURN(size_t got,
                     PreadFull(fd, {reinterpret_cast<uint8_t*>(buf.data()), n * Id::kSize},
                               read * Id::kSize, "reading back a sorted run"));
    if (got != n * Id::kSize) return Status::IOError("a sorted run's temporary file shrank");
    read += n;
    at = 0;
    return Status::OK();
  }
};

IdSorter::IdSorter(size_t memory_ids) : memory_ids_(std::max<size_t>(memory_ids, 1)) {
  // Sized once (growing it was 5% of a `repo check`); its pages are touched only as ids come.
  buffer_.reserve(memory_ids_);
}
IdSorter::~IdSorter() = default;

Status IdSorter::Add(const Id& id) {
  ++added_;
  buffer_.push_back(id);
  if (buffer_.size() >= memory_ids_) return Spill();
  return Status::OK();
}

Status IdSorter::Spill() {
  std::sort(buffer_.begin(), buffer_.end());
  buffer_.erase(std::unique(buffer_.begin(), buffer_.end()), buffer_.end());
  auto run = std::make_unique<Run>();
  ASSIGN_OR_RETURN(run->fd, OpenUnnamedTempFile("sorting ids"));
  static_assert(sizeof(Id) == Id::kSize);
  RETURN_IF_ERROR(WriteAll(
      run->fd, {reinterpret_cast<const uint8_t*>(buffer_.data()), buffer_.size() * Id::kSize},
      "writing a sorted run of ids"));
  run->count = buffer_.size();
  runs_.push_back(std::move(run));
  buffer_.clear();
  return Status::OK();
}

Status IdSorter::StartReading() {
  reading_ = true;
  if (runs_.empty()) {  // everything fits in memory: no file at all
    std::sort(buffer_.begin(), buffer_.end());
    buffer_.erase(std::unique(buffer_.begin(), buffer_.end()), buffer_.end());
    unique_bound_ = buffer_.size();
    return Status::OK();
  }
  if (!buffer_.empty()) RETURN_IF_ERROR(Spill());
  buffer_.shrink_to_fit();
  for (auto& r : runs_) {
    RETURN_IF_ERROR(r->Fill());
    unique_bound_ += r->count;
  }
  return Status::OK();
}

Result<bool> IdSorter::Next(size_t max, std::vector<Id>* out) {
  if (!reading_) RETURN_IF_ERROR(StartReading());
  out->clear();
  if (runs_.empty()) {
    const size_t n = std::min(max, buffer_.size() - buffer_next_);
    out->assign(buffer_.begin() + static_cast<ptrdiff_t>(buffer_next_),
                buffer_.begin() + static_cast<ptrdiff_t>(buffer_next_ + n));
    buffer_next_ += n;
    return n > 0;
  }
  // k-way merge over a min-heap of the runs by their head id.
  auto later = [](const Run* a, const Run* b) { return b->head() < a->head(); };
  if (heap_.empty() && !merging_) {
    merging_ = true;
    for (auto& r : runs_) {
      if (!r->done()) heap_.push_back(r.get());
    }
    std::make_heap(heap_.begin(), heap_.end(), later);
  }
  while (out->size() < max && !heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    Run* run = heap_.back();
    const Id id = run->head();
    ++run->at;
    RETURN_IF_ERROR(run->Fill());
    if (run->done()) {
      heap_.pop_back();
    } else {
      std::push_heap(heap_.begin(), heap_.end(), later);
    }
    if (have_last_ && id == last_) continue;
    out->push_back(id);
    last_ = id;
    have_last_ = true;
  }
  return !out->empty();
}

}  // namespace repo
