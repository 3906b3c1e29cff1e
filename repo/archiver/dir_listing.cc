#include "repo/archiver/dir_listing.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "repo/archiver/walk_dir.h"
#include "repo/os/fd_io.h"

namespace repo {
namespace {

// Bytes read back from a spilled run at a time: a name is at most NAME_MAX (255) bytes.
constexpr size_t kRunReadBytes = 16 << 10;

// Names packed into one buffer, each ended by '\0' (which no name holds), ordered by offsets.
struct NameRun {
  std::string bytes;
  std::vector<uint32_t> starts;

  size_t footprint() const { return bytes.size() + sizeof(uint32_t) * starts.size(); }
  void Add(std::string_view name) {
    starts.push_back(static_cast<uint32_t>(bytes.size()));
    bytes.append(name);
    bytes.push_back('\0');
  }
  // strcmp compares as unsigned char: bytewise, as trees order names.
  void Sort() {
    std::sort(starts.begin(), starts.end(), [this](uint32_t a, uint32_t b) {
      return std::strcmp(bytes.data() + a, bytes.data() + b) < 0;
    });
  }
  std::string_view Name(size_t i) const { return bytes.data() + starts[i]; }
};

// A sorted run of names ('\0'-terminated), read back from the spill file a buffer at a time;
// or, when spilling failed, the names left in memory, all in `buf` (pos == end).
struct SortedRun {
  uint64_t pos = 0;  // file offset of the bytes not read yet
  uint64_t end = 0;
  std::string buf;  // bytes read, from `off` on not yet taken
  size_t off = 0;
  bool has_current = false;
  std::string_view current;  // its smallest name not yet given (in `buf`)
};

}  // namespace

class DirListing::Impl {
 public:
  explicit Impl(const std::string& path) : path_(path), what_("cannot read directory " + path) {}
  ~Impl() {
    if (spill_fd_ >= 0) close(spill_fd_);
  }

  void Add(std::string_view name, size_t run_bytes) {
    memory_.Add(name);
    ++count_;
    if (memory_.footprint() >= run_bytes && !spill_failed_) Spill();
  }

  // After the last Add: the names are ready to be taken.
  Status Finish() {
    if (runs_.empty()) {  // all in memory, one sorted run
      memory_.Sort();
      memory_.bytes.shrink_to_fit();
      memory_.starts.shrink_to_fit();
      return Status::OK();
    }
    if (!memory_.starts.empty() && !spill_failed_) Spill();
    if (!memory_.starts.empty()) {  // spilling failed: the rest is merged from memory
      memory_.Sort();
      SortedRun run;
      run.buf.reserve(memory_.bytes.size());
      for (size_t i = 0; i < memory_.starts.size(); ++i) {
        run.buf.append(memory_.Name(i));
        run.buf.push_back('\0');
      }
      runs_.push_back(std::move(run));
    }
    memory_ = NameRun();  // its buffers too: a listing on the walk path holds only its runs'
    for (size_t i = 0; i < runs_.size(); ++i) {
      ASSIGN_OR_RETURN(bool more, Advance(runs_[i]));
      if (more) heap_.push_back(i);
    }
    std::make_heap(heap_.begin(), heap_.end(), ByName());
    return Status::OK();
  }

  uint64_t size() const { return count_; }
  const std::string& warning() const { return warning_; }

  Result<bool> Next(std::string_view* name) {
    RETURN_IF_ERROR(broken_);
    if (runs_.empty()) {
      if (next_ == memory_.starts.size()) return false;
      *name = memory_.Name(next_++);
      return true;
    }
    if (heap_.empty()) return false;
    std::pop_heap(heap_.begin(), heap_.end(), ByName());
    SortedRun& run = runs_[heap_.back()];
    name_.assign(run.current);
    *name = name_;
    auto more = Advance(run);
    if (!more.ok()) {
      broken_ = more.status();
      return broken_;
    }
    if (*more) {
      std::push_heap(heap_.begin(), heap_.end(), ByName());
    } else {
      heap_.pop_back();
    }
    return true;
  }

 private:
  // Orders the heap of runs so that the run with the smallest current name is on top.
  struct Later {
    const std::vector<SortedRun>* runs;
    bool operator()(size_t a, size_t b) const { return (*runs)[a].current > (*runs)[b].current; }
  };
  Later ByName() const { return {&runs_}; }

  // Writes the names in memory, sorted, as one more run at the end of the spill file. If that
  // fails (no temporary file, no space, no fd left), the names stay in memory, and so do all
  // that follow: the directory is still listed whole, in memory as before, with a warning.
  void Spill() {
    Status s = TrySpill();
    if (s.ok()) return;
    spill_failed_ = true;
    warning_ = "directory " + path_ + ": " + s.message() +
               "; its names are sorted in memory instead (set TMPDIR to a writable directory "
               "with space)";
  }

  Status TrySpill() {
    if (spill_fd_ < 0) {
      ASSIGN_OR_RETURN(spill_fd_, OpenUnnamedTempFile("sorting its names"));
    }
    memory_.Sort();
    SortedRun run;
    run.pos = spill_size_;
    std::string out;
    out.reserve(kRunReadBytes + NAME_MAX + 1);
    uint64_t written = spill_size_;
    for (size_t i = 0; i < memory_.starts.size(); ++i) {
      out.append(memory_.Name(i));
      out.push_back('\0');
      if (out.size() >= kRunReadBytes || i + 1 == memory_.starts.size()) {
        RETURN_IF_ERROR(
            PwriteAll(spill_fd_, AsBytes(out), written, "sorting its names in a temporary file"));
        written += out.size();
        out.clear();
      }
    }
    spill_size_ = written;
    run.end = written;
    runs_.push_back(std::move(run));
    memory_.bytes.clear();
    memory_.starts.clear();
    return Status::OK();
  }

  // Moves `run` to its next name; false when it has none left.
  Result<bool> Advance(SortedRun& run) {
    if (run.has_current) run.off += run.current.size() + 1;
    run.has_current = false;
    while (true) {
      const size_t zero = run.buf.find('\0', run.off);
      if (zero != std::string::npos) {
        run.current = std::string_view(run.buf).substr(run.off, zero - run.off);
        run.has_current = true;
        return true;
      }
      if (run.pos == run.end) {
        if (run.off == run.buf.size()) return false;
        return Status::IOError(what_ + ": its spilled names end inside a name");
      }
      run.buf.erase(0, run.off);
      run.off = 0;
      // One buffer per run, never regrown: what is left of a name plus one read.
      if (run.buf.capacity() < kRunReadBytes + NAME_MAX + 1) {
        run.buf.reserve(kRunReadBytes + NAME_MAX + 1);
      }
      const size_t have = run.buf.size();
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kRunReadBytes, run.end - run.pos));
      run.buf.resize(have + want);
      ASSIGN_OR_RETURN(
          size_t got,
          PreadFull(spill_fd_,
                    MutableByteSpan(reinterpret_cast<uint8_t*>(run.buf.data()) + have, want),
                    run.pos, what_ + ": reading its spilled names"));
      if (got != want) return Status::IOError(what_ + ": its spilled names were cut short");
      run.pos += want;
    }
  }

  const std::string path_;
  const std::string what_;
  uint64_t count_ = 0;
  NameRun memory_;  // the names not spilled; all of them, sorted, when nothing was
  size_t next_ = 0;
  int spill_fd_ = -1;
  uint64_t spill_size_ = 0;
  bool spill_failed_ = false;
  std::string warning_;
  std::vector<SortedRun> runs_;
  std::vector<size_t> heap_;  // runs with names left
  std::string name_;          // the name Next gave last, when taken from a run
  Status broken_;
};

Result<std::unique_ptr<DirListing>> DirListing::Open(int dirfd, const std::string& path,
                                                     const ExcludeRules& rules, size_t run_bytes) {
  // A duplicate, so that `dirfd` stays usable for the *at() calls on the entries listed.
  int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  DIR* d = fd < 0 ? nullptr : fdopendir(fd);
  if (!d) {
    const int err = errno;
    if (fd >= 0) close(fd);
    return Status::FromErrno(err, "cannot read directory " + path);
  }
  auto impl = std::make_unique<Impl>(path);
  std::string name;
  while (dirent* e = readdir(d)) {
    name = e->d_name;
    if (name == "." || name == "..") continue;
    if (IsExcluded(rules, JoinPath(path, name), name)) continue;
    impl->Add(name, run_bytes);
  }
  closedir(d);
  RETURN_IF_ERROR(impl->Finish());
  return std::unique_ptr<DirListing>(new DirListing(std::move(impl)));
}

DirListing::DirListing(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DirListing::~DirListing() = default;
uint64_t DirListing::size() const { return impl_->size(); }
const std::string& DirListing::warning() const { return impl_->warning(); }
Result<bool> DirListing::Next(std::string_view* name) { return impl_->Next(name); }

}  // namespace repo
