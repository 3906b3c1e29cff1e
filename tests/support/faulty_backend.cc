#include "tests/support/faulty_backend.h"

namespace repo::test {
namespace {

Status Injected(const char* op, const FileHandle& h) {
  return Status::IOError(std::string("injected fault: ") + op + " of " + h.Describe());
}

}  // namespace

void FaultyBackend::FailNthWrite(uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_write_number_ = counts_.writes + n;
}

void FaultyBackend::FailWritesOf(FileType type, uint64_t after) {
  std::lock_guard<std::mutex> lock(mu_);
  write_allowance_[type] = after;
}

void FaultyBackend::FailReads(std::optional<FileType> type) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_all_reads_ = !type.has_value();
  fail_reads_of_ = type;
}

void FaultyBackend::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  fail_write_number_.reset();
  write_allowance_.clear();
  fail_all_reads_ = false;
  fail_reads_of_.reset();
}

BackendOpCounts FaultyBackend::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

uint64_t FaultyBackend::WritesOf(FileType type) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = writes_of_.find(type);
  return it == writes_of_.end() ? 0 : it->second;
}

Result<std::vector<FileInfo>> FaultyBackend::List(FileType type) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.lists;
  }
  return base_.List(type);
}

Result<FileInfo> FaultyBackend::Stat(const FileHandle& h) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.stats;
  }
  return base_.Stat(h);
}

Result<Bytes> FaultyBackend::Read(const FileHandle& h, uint64_t offset, uint64_t length) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.reads;
    if (fail_all_reads_ || fail_reads_of_ == h.type) {
      ++counts_.injected_failures;
      return Injected("read", h);
    }
  }
  auto bytes = base_.Read(h, offset, length);
  if (bytes.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    counts_.bytes_read += bytes->size();
    bytes_read_of_[h.type] += bytes->size();
  }
  return bytes;
}

uint64_t FaultyBackend::BytesReadOf(FileType type) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = bytes_read_of_.find(type);
  return it == bytes_read_of_.end() ? 0 : it->second;
}

Status FaultyBackend::Write(const FileHandle& h, ByteSpan data) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t number = ++counts_.writes;
    ++writes_of_[h.type];
    bool fail = false;
    if (fail_write_number_ == number) {
      fail_write_number_.reset();
      fail = true;
    }
    if (auto it = write_allowance_.find(h.type); it != write_allowance_.end()) {
      if (it->second == 0) {
        fail = true;
      } else if (!fail) {
        --it->second;
      }
    }
    if (fail) {
      ++counts_.injected_failures;
      return Injected("write", h);
    }
  }
  return base_.Write(h, data);
}

Status FaultyBackend::Delete(const FileHandle& h) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.deletes;
  }
  return base_.Delete(h);
}

}  // namespace repo::test
