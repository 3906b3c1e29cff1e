#include "repo/archiver/file_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "repo/os/fd_io.h"

namespace repo {

FileReader::FileReader(const ChunkerParams& params, const GearTable& gear, size_t buffer_size)
    : params_(params), gear_(gear), buffer_size_(buffer_size), buffer_(new uint8_t[buffer_size]) {}

Status FileReader::ReadFile(int fd, const struct stat& before, const std::string& path,
                            ChunkSink& sink, ReadCounts* counts) {
  const uint64_t size = static_cast<uint64_t>(before.st_size);
  const bool sparse = static_cast<uint64_t>(before.st_blocks) * 512 < size;
  if (!sparse) return ReadRegion(fd, 0, UINT64_MAX, /*stream=*/false, path, sink, counts);
  Status s;
  uint64_t pos = 0;
  while (s.ok() && pos < size) {
    off_t data = lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    uint64_t data_at = data < 0 ? size : static_cast<uint64_t>(data);
    if (data_at > pos) {
      sink.Hole(data_at - pos);
      counts->hole_bytes += data_at - pos;
      pos = data_at;
    }
    if (pos >= size) break;
    off_t hole = lseek(fd, static_cast<off_t>(pos), SEEK_HOLE);
    uint64_t hole_at = hole < 0 ? size : static_cast<uint64_t>(hole);
    s = ReadRegion(fd, pos, hole_at, /*stream=*/false, path, sink, counts);
    pos = hole_at;
  }
  return s;
}

Status FileReader::ReadStream(int fd, const std::string& path, ChunkSink& sink,
                              ReadCounts* counts) {
  return ReadRegion(fd, 0, UINT64_MAX, /*stream=*/true, path, sink, counts);
}

Status FileReader::ReadRegion(int fd, uint64_t offset, uint64_t end, bool stream,
                              const std::string& path, ChunkSink& sink, ReadCounts* counts) {
  FastCdc chunker(params_, gear_);
  uint8_t* const buf = buffer_.get();
  Bytes current;  // the start of a chunk that straddles two reads
  while (offset < end) {
    if (sink.Stopped()) return Status::Aborted("reading " + path + " stopped");
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer_size_, end - offset));
    size_t n;
    if (stream) {
      // One read(2), not ReadFull: a pipe's bytes are chunked as they come, so a fast producer
      // keeps running beside the chunker (the pipe holds 64 KiB) and progress moves.
      Result<size_t> got = ReadSome(fd, MutableByteSpan(buf, want), "reading " + path);
      if (!got.ok()) return got.status();
      n = *got;
    } else {
      Result<size_t> got = PreadFull(fd, MutableByteSpan(buf, want), offset, "reading " + path);
      if (!got.ok()) return got.status();
      n = *got;
    }
    if (n == 0) break;  // EOF (the file shrank, or end was "to EOF")
    offset += n;
    counts->data_bytes += n;
    sink.BytesRead(n);
    ByteSpan rest(buf, n);
    while (!rest.empty()) {
      size_t cut = chunker.Next(rest);
      if (!cut) {  // the chunk goes on in the next read
        current.insert(current.end(), rest.begin(), rest.end());
        break;
      }
      if (current.empty()) {
        sink.Chunk(Bytes(rest.begin(), rest.begin() + cut));  // one exact-size copy out of buf
      } else {
        current.insert(current.end(), rest.begin(), rest.begin() + cut);
        current.shrink_to_fit();  // a queued job holds no more than its chunk
        sink.Chunk(std::exchange(current, Bytes()));
      }
      rest = rest.subspan(cut);
    }
    // PreadFull stops short only at end of file: no second read to learn it.
    if (!stream && n < want) break;
  }
  if (!current.empty()) sink.Chunk(std::move(current));
  return Status::OK();
}

}  // namespace repo
