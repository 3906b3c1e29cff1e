// The snapshot pipeline's entries in flight (docs/design.md, "Snapshot pipeline"): directories
// and files the walk has met but whose trees or content lists are not complete yet. Internal to
// repo/archiver/: archiver.cc drives them, hardlinks.h holds links waiting on another's content.
//
// Completion counts: each entry has a count of unfinished parts (`pending`), starting at 1 for
// the walk itself. Whoever brings it to 0 (the walker, or the worker storing the last chunk)
// completes the entry, so no thread ever waits for another to finish one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "repo/model/tree.h"
#include "repo/model/tree_io.h"
#include "repo/store/blob_store.h"

namespace repo {

// A directory whose listing is not stored yet: it completes when its walk has finished and every
// child has resolved (pending reaches 0).
//
// Its children go to `listing` in name order as soon as every child before them has resolved,
// so a directory of any size holds only the children from the first unresolved one to the last
// one the walk has reached (bounded by what is in flight) and a blob per level of its listing.
struct DirState {
  Node node;  // its own metadata; subtree filled on completion
  std::atomic<int64_t> pending{1};
  std::shared_ptr<DirState> parent;                 // null for the root
  size_t slot = 0;                                  // its place among the parent's children
  std::optional<std::vector<Id>> previous_subtree;  // in the parent snapshot

  // A child's place: resolved once it is known, with nullopt if it is left out.
  struct Slot {
    bool resolved = false;
    std::optional<Node> node;
  };
  std::mutex mu;                          // guards what follows
  std::deque<Slot> window;                // the slots from `written` on, as far as any has resolved
  size_t written = 0;                     // slots handed to `listing` (or left out) so far
  std::optional<TreeBlobWriter> listing;  // set by the archiver when it creates the state
};

// A run of a file whose chunk may still be on its way to the store: a worker writes `run` and
// then sets `done`.
struct PendingRun {
  ContentRun run;
  std::atomic<bool> done{false};
};

// A file being read: completes when the read has finished and every chunk is stored.
//
// Its runs go to `content` in order as soon as the ones before them are done, so a file of any
// size holds only the runs still in flight (bounded by the chunk queue) and a blob per level of
// its content list. Only the walker touches `runs` (appends, drains the done front) and
// `content` until it releases its part of `pending`; then only the thread completing the file.
struct FileState {
  explicit FileState(BlobStore& store) : content(store) {}
  Node node;
  std::deque<PendingRun> runs;  // deque: appending never moves runs the workers write to
  ContentWriter content;
  std::atomic<int64_t> pending{1};
  std::shared_ptr<DirState> dir;
  size_t slot = 0;
  bool drop = false;  // reading failed: leave the file out of the snapshot
  // The link of a multiply-linked inode that later links follow (HardlinkTable): on completion
  // its content goes to them.
  bool first_link = false;
};

// A later link of a multiply-linked inode, waiting for the first link's content; resolved into
// `dir` at `slot` once it has it.
struct LinkFollower {
  Node node;  // its own name; the inode's metadata
  std::shared_ptr<DirState> dir;
  size_t slot = 0;
};

// A chunk on its way from the walker to a worker, which stores it and writes its id to `run`.
struct ChunkJob {
  std::shared_ptr<FileState> file;
  PendingRun* run;  // in file->runs
  Bytes data;
};

}  // namespace repo
