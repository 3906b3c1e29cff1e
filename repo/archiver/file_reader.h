// Reading one file, or one stream, into content-defined chunks and hole runs: the read half of
// the snapshot pipeline, with no knowledge of where the chunks go (the archiver queues them for
// its workers; tests collect them).
//
// One FileReader serves a whole walk: it owns the walk's one read buffer, so reading a file
// allocates nothing but the chunks it hands out. Not thread-safe: the walker thread's alone.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "base/status.h"
#include "chunker/fastcdc.h"

namespace repo {

// Receives what a read finds, in file order, on the reading thread.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  // The next data chunk (FastCDC cut points over the data, each data region chunked on its own);
  // the sink owns it from here on.
  virtual void Chunk(Bytes data) = 0;
  // A hole of `length` bytes (reads as zeros) comes next; it was not read.
  virtual void Hole(uint64_t length) = 0;
  // `n` more bytes have been read, before they are chunked (progress). Called once per read.
  virtual void BytesRead(uint64_t n) {}
  // Asked before each read: true stops the read, which then returns Aborted. Lets a failed
  // snapshot stop reading a large file early.
  virtual bool Stopped() { return false; }
};

// What a read found, counted as it goes: valid also when the read failed part way.
struct ReadCounts {
  uint64_t data_bytes = 0;  // bytes read (and handed out in chunks, or in the open chunk)
  uint64_t hole_bytes = 0;  // bytes in Hole() runs
};

class FileReader {
 public:
  // Reads 4 MiB at a time: large enough that a read costs little per byte, small enough to keep
  // the snapshot's memory bound (docs/design.md, "Memory bound").
  static constexpr size_t kDefaultBufferSize = 4u << 20;

  // Chunks with `params` and `gear` (copied). `buffer_size`: bytes per read (tests make it small
  // to cut chunks across reads). REQUIRES: params.Validate().ok(), buffer_size > 0.
  FileReader(const ChunkerParams& params, const GearTable& gear,
             size_t buffer_size = kDefaultBufferSize);
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  // Reads the regular file `fd` from offset 0 into `sink`. A file with fewer allocated blocks
  // than its size (by `before`) is sparse: read region by region with SEEK_DATA/SEEK_HOLE up to
  // `before`'s size, holes becoming Hole() runs that are never read. Any other file is read to
  // its end of file as it is now, however long. `path` names the file in errors. Returns
  // Status::FromErrno "reading <path>" on a read error, Aborted if the sink stopped it; the
  // runs handed out so far and `*counts` stay valid then.
  // REQUIRES: `before` is fstat(fd) taken before the read; `fd` is open for reading.
  Status ReadFile(int fd, const struct stat& before, const std::string& path, ChunkSink& sink,
                  ReadCounts* counts);

  // Reads the stream `fd` (a pipe, stdin) from where it is to its end, chunking what each read(2)
  // returns as it arrives (a slow producer's bytes are counted and queued without waiting for a
  // whole buffer). Errors and `*counts` as for ReadFile; a stream has no holes.
  Status ReadStream(int fd, const std::string& path, ChunkSink& sink, ReadCounts* counts);

 private:
  // Reads `fd` from `offset` to `end` (or end of file when end is UINT64_MAX) into `sink`; a
  // `stream` is read with read(2) from where it is.
  Status ReadRegion(int fd, uint64_t offset, uint64_t end, bool stream, const std::string& path,
                    ChunkSink& sink, ReadCounts* counts);

  const ChunkerParams params_;
  const GearTable gear_;
  const size_t buffer_size_;
  // The one read buffer, never re-zeroed: only the bytes a read returned are looked at.
  const std::unique_ptr<uint8_t[]> buffer_;
};

}  // namespace repo
