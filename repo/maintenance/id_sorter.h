// IdSorter: ids added in any order, read back ascending and without duplicates, in memory bounded
// whatever their number (`repo check` collects every content reference of a repository: 50 M ids
// are 1.6 GB). Up to `memory_ids` are held; beyond that each full buffer is sorted and spilled to
// a nameless temporary file ($TMPDIR, gone when closed, also if the process is killed), and the
// runs are merged as they are read back.
//
// Thread-safety: none.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "base/id.h"
#include "base/status.h"

namespace repo {

class IdSorter {
 public:
  explicit IdSorter(size_t memory_ids = 1 << 20);
  ~IdSorter();
  IdSorter(const IdSorter&) = delete;
  IdSorter& operator=(const IdSorter&) = delete;

  Status Add(const Id& id);
  // Ids added so far (duplicates counted).
  uint64_t added() const { return added_; }
  // Once reading has begun: how many ids Next gives in all, exactly when they fit in memory,
  // else at most that (ids repeated across spilled runs are counted once per run).
  uint64_t unique_bound() const { return unique_bound_; }

  // Reading back, after the last Add: the next up to `max` ids, ascending and unique, into *out
  // (replaced); false once all were given.
  Result<bool> Next(size_t max, std::vector<Id>* out);

 private:
  struct Run;
  Status Spill();
  Status StartReading();

  const size_t memory_ids_;
  std::vector<Id> buffer_;
  std::vector<std::unique_ptr<Run>> runs_;
  uint64_t added_ = 0;
  uint64_t unique_bound_ = 0;
  bool reading_ = false;
  size_t buffer_next_ = 0;  // reading from memory alone: the next id of buffer_
  std::vector<Run*> heap_;  // merging: the runs not done, a min-heap by head id
  bool merging_ = false;
  bool have_last_ = false;  // the last id given (to drop duplicates across runs)
  Id last_;
};

}  // namespace repo
