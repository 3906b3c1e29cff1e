// FaultyBackend: a Backend decorator that injects failures and counts operations, for tests
// (after leveldb's db/fault_injection_test.cc and kopia's internal/blobtesting/faulty.go).
//
// Every call is forwarded to a base Backend the decorator does not own, so a test can let a
// repository "crash" on an injected fault, drop it, and reopen the very same storage through a
// fresh, fault-free FaultyBackend (or the base itself). An injected failure returns IOError and
// leaves the base untouched: a failed Write writes nothing.
//
// Faults are armed and cleared at any time; each applies to the calls that start after it is
// armed. Thread-safety: every method may be called concurrently; whether a given call fails is
// decided atomically, so "the 3rd Write" is exactly one Write even with several writers.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

#include "repo/storage/backend.h"

namespace repo::test {

// Operations seen so far, failed ones included.
struct BackendOpCounts {
  uint64_t lists = 0;
  uint64_t stats = 0;
  uint64_t reads = 0;
  uint64_t bytes_read = 0;  // by the reads that succeeded
  uint64_t writes = 0;
  uint64_t deletes = 0;
  uint64_t injected_failures = 0;  // calls that failed because of a fault armed here
};

class FaultyBackend final : public Backend {
 public:
  // REQUIRES: `base` outlives this backend.
  explicit FaultyBackend(Backend& base) : base_(base) {}
  FaultyBackend(const FaultyBackend&) = delete;  // to stack one on another, pass it as Backend&
  FaultyBackend& operator=(const FaultyBackend&) = delete;

  // The n-th Write from now on (n >= 1; 1 = the next one) fails. One such fault at a time:
  // arming another replaces it. The fault is spent once it fires.
  void FailNthWrite(uint64_t n);
  // Every Write of a `type` file fails, after the next `after` of them have gone through.
  void FailWritesOf(FileType type, uint64_t after = 0);
  // Every Read fails, or only Reads of `type` files when given.
  void FailReads(std::optional<FileType> type = std::nullopt);
  // Disarms every fault; the counters are kept.
  void ClearFaults();

  BackendOpCounts counts() const;
  // Write calls for files of `type` so far, failed ones included.
  uint64_t WritesOf(FileType type) const;
  // Bytes read from files of `type` so far.
  uint64_t BytesReadOf(FileType type) const;

  std::string Location() const override { return "faulty:" + base_.Location(); }
  Result<std::vector<FileInfo>> List(FileType type) override;
  Result<FileInfo> Stat(const FileHandle& h) override;
  Result<Bytes> Read(const FileHandle& h, uint64_t offset, uint64_t length) override;
  Status Write(const FileHandle& h, ByteSpan data) override;
  Status Delete(const FileHandle& h) override;

 private:
  Backend& base_;
  mutable std::mutex mu_;
  BackendOpCounts counts_;
  std::map<FileType, uint64_t> writes_of_;
  std::map<FileType, uint64_t> bytes_read_of_;
  std::optional<uint64_t> fail_write_number_;     // value of counts_.writes that fails
  std::map<FileType, uint64_t> write_allowance_;  // writes of the type still let through
  bool fail_all_reads_ = false;
  std::optional<FileType> fail_reads_of_;
};

}  // namespace repo::test
