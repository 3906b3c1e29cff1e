// Reading files into chunks and hole runs (repo/archiver/file_reader.h): the runs cover exactly
// the file, data chunks are FastCDC's cut points over each data region, holes of sparse files
// are never read, streams are read to their end, a stopped sink and read errors end the read.
#include "repo/archiver/file_reader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::RandomBytes;

// Small chunks, so that a few hundred KiB give many chunks and reads cut across them.
const ChunkerParams kParams{256, 1024, 4096};

GearTable TestGear() {
  GearTable gear;
  uint64_t x = 0x243f6a8885a308d3ULL;
  for (auto& g : gear) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    g = x;
  }
  return gear;
}

// A run as the reader gave it: a data chunk, or a hole of `length` bytes.
struct Run {
  bool hole = false;
  uint64_t length = 0;
  Bytes data;
};

class RecordingSink : public ChunkSink {
 public:
  void Chunk(Bytes data) override { runs.push_back(Run{false, data.size(), std::move(data)}); }
  void Hole(uint64_t length) override { runs.push_back(Run{true, length, {}}); }
  void BytesRead(uint64_t n) override { bytes_read += n; }
  bool Stopped() override { return stop; }

  // The content the runs describe, holes as zeros.
  Bytes Content() const {
    Bytes out;
    for (const Run& r : runs) {
      if (r.hole) {
        out.resize(out.size() + r.length, 0);
      } else {
        out.insert(out.end(), r.data.begin(), r.data.end());
      }
    }
    return out;
  }
  std::vector<size_t> ChunkSizes() const {
    std::vector<size_t> sizes;
    for (const Run& r : runs) {
      if (!r.hole) sizes.push_back(r.data.size());
    }
    return sizes;
  }

  std::vector<Run> runs;
  uint64_t bytes_read = 0;
  bool stop = false;
};

// The chunk sizes FastCDC cuts `data` into when it sees it whole.
std::vector<size_t> ExpectedChunkSizes(ByteSpan data) {
  FastCdc cdc(kParams, TestGear());
  std::vector<size_t> sizes;
  while (!data.empty()) {
    size_t cut = cdc.Next(data);
    if (!cut) cut = data.size();  // the last, open chunk
    sizes.push_back(cut);
    data = data.subspan(cut);
  }
  return sizes;
}

class FileReaderTest : public ::testing::Test {
 protected:
  // Creates `name` with `content`; returns an fd open for reading.
  int MakeFile(const std::string& name, ByteSpan content) {
    const std::string path = dir_.Sub(name);
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << path;
    EXPECT_EQ(pwrite(fd, content.data(), content.size(), 0), ssize_t(content.size()));
    return fd;
  }
  Status Read(int fd, RecordingSink& sink, ReadCounts* counts,
              size_t buffer = FileReader::kDefaultBufferSize) {
    struct stat st;
    EXPECT_EQ(fstat(fd, &st), 0);
    FileReader reader(kParams, TestGear(), buffer);
    return reader.ReadFile(fd, st, "/some/file", sink, counts);
  }

  test::TempDir dir_;
};

TEST_F(FileReaderTest, PlainFileGivesTheChunkerCutsWhateverTheReadSize) {
  const Bytes content = RandomBytes(300 << 10, 1);
  const int fd = MakeFile("plain", content);
  // 10,000 bytes a read: reads end inside chunks; the 4 MiB default reads it whole.
  for (size_t buffer : {size_t{10000}, FileReader::kDefaultBufferSize}) {
    RecordingSink sink;
    ReadCounts counts;
    ASSERT_TRUE(Read(fd, sink, &counts, buffer).ok());
    EXPECT_EQ(sink.Content(), content);
    EXPECT_EQ(sink.ChunkSizes(), ExpectedChunkSizes(content));
    EXPECT_EQ(counts.data_bytes, content.size());
    EXPECT_EQ(counts.hole_bytes, 0u);
    EXPECT_EQ(sink.bytes_read, content.size());
  }
  close(fd);
}

TEST_F(FileReaderTest, EmptyFileGivesNoRuns) {
  const int fd = MakeFile("empty", {});
  RecordingSink sink;
  ReadCounts counts;
  ASSERT_TRUE(Read(fd, sink, &counts).ok());
  EXPECT_TRUE(sink.runs.empty());
  EXPECT_EQ(counts.data_bytes, 0u);
  close(fd);
}

TEST_F(FileReaderTest, FileGrownSinceItsStatIsReadToItsEnd) {
  const Bytes content = RandomBytes(50 << 10, 2);
  const int fd = MakeFile("growing", ByteSpan(content).first(10 << 10));
  struct stat before;
  ASSERT_EQ(fstat(fd, &before), 0);
  ASSERT_EQ(pwrite(fd, content.data(), content.size(), 0), ssize_t(content.size()));
  RecordingSink sink;
  ReadCounts counts;
  FileReader reader(kParams, TestGear(), 4096);
  ASSERT_TRUE(reader.ReadFile(fd, before, "/some/file", sink, &counts).ok());
  EXPECT_EQ(sink.Content(), content);
  close(fd);
}

struct Region {
  uint64_t offset, length;
};

// Checks the runs of a sparse file of `size` bytes whose data is exactly `data` (sorted, apart):
// they cover the file, each hole lies in a hole and each chunk in one data region, each region
// is chunked on its own, and only data was read.
void ExpectSparseRuns(const RecordingSink& sink, const ReadCounts& counts, uint64_t size,
                      const std::vector<Region>& data, const Bytes& file_content) {
  EXPECT_EQ(sink.Content(), file_content);
  uint64_t data_bytes = 0;
  for (const Region& r : data) data_bytes += r.length;
  EXPECT_EQ(counts.data_bytes, data_bytes);
  EXPECT_EQ(counts.hole_bytes, size - data_bytes);
  EXPECT_EQ(sink.bytes_read, data_bytes);  // no hole byte was read
  auto region_of = [&](uint64_t offset) -> const Region* {
    for (const Region& r : data) {
      if (offset >= r.offset && offset < r.offset + r.length) return &r;
    }
    return nullptr;
  };
  std::vector<size_t> expected_sizes;
  for (const Region& r : data) {
    auto sizes = ExpectedChunkSizes(ByteSpan(file_content).subspan(r.offset, r.length));
    expected_sizes.insert(expected_sizes.end(), sizes.begin(), sizes.end());
  }
  EXPECT_EQ(sink.ChunkSizes(), expected_sizes);
  uint64_t offset = 0;
  for (const Run& run : sink.runs) {
    ASSERT_GT(run.length, 0u);
    const Region* first = region_of(offset);
    const Region* last = region_of(offset + run.length - 1);
    if (run.hole) {
      EXPECT_EQ(first, nullptr) << "hole run at " << offset << " covers data";
      EXPECT_EQ(last, nullptr) << "hole run at " << offset << " covers data";
    } else {
      EXPECT_NE(first, nullptr) << "data chunk at " << offset << " starts in a hole";
      EXPECT_EQ(first, last) << "data chunk at " << offset << " leaves its region";
    }
    offset += run.length;
  }
  EXPECT_EQ(offset, size);
}

// Makes a sparse file of `size` bytes with random data in `data`; returns its fd, or -1 when
// this filesystem stores it without holes (then the caller skips).
int MakeSparseFile(const test::TempDir& dir, const std::string& name, uint64_t size,
                   const std::vector<Region>& data, Bytes* content) {
  const std::string path = dir.Sub(name);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
  content->assign(size, 0);
  uint64_t seed = 10;
  for (const Region& r : data) {
    const Bytes bytes = RandomBytes(r.length, seed++);
    EXPECT_EQ(pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(r.offset)),
              ssize_t(bytes.size()));
    std::copy(bytes.begin(), bytes.end(), content->begin() + r.offset);
  }
  EXPECT_EQ(fsync(fd), 0);  // allocation settled before its blocks are counted
  struct stat st;
  EXPECT_EQ(fstat(fd, &st), 0);
  const off_t hole = lseek(fd, 0, SEEK_HOLE);
  if (uint64_t(st.st_blocks) * 512 >= size || hole < 0 || uint64_t(hole) >= size) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST_F(FileReaderTest, SparseFileReadsOnlyItsDataRegions) {
  // Regions aligned to 1 MiB and 128 KiB long, so that any filesystem's block size keeps the
  // holes exactly where they were left; the file ends with data.
  constexpr uint64_t kMiB = 1 << 20;
  const uint64_t size = 8 * kMiB;
  const std::vector<Region> data = {
      {1 * kMiB, 256 << 10}, {5 * kMiB, 128 << 10}, {size - (128 << 10), 128 << 10}};
  Bytes content;
  const int fd = MakeSparseFile(dir_, "sparse", size, data, &content);
  if (fd < 0) GTEST_SKIP() << "this filesystem does not keep holes";
  for (size_t buffer : {size_t{100000}, FileReader::kDefaultBufferSize}) {
    RecordingSink sink;
    ReadCounts counts;
    ASSERT_TRUE(Read(fd, sink, &counts, buffer).ok());
    ExpectSparseRuns(sink, counts, size, data, content);
    ASSERT_FALSE(sink.runs.empty());
    EXPECT_TRUE(sink.runs.front().hole);  // it starts with a hole
    EXPECT_FALSE(sink.runs.back().hole);
  }
  close(fd);
}

TEST_F(FileReaderTest, SparseFileStartingWithDataAndEndingInAHole) {
  constexpr uint64_t kMiB = 1 << 20;
  const uint64_t size = 6 * kMiB;
  const std::vector<Region> data = {{0, 256 << 10}, {2 * kMiB, 128 << 10}};
  Bytes content;
  const int fd = MakeSparseFile(dir_, "sparse", size, data, &content);
  if (fd < 0) GTEST_SKIP() << "this filesystem does not keep holes";
  RecordingSink sink;
  ReadCounts counts;
  ASSERT_TRUE(Read(fd, sink, &counts).ok());
  ExpectSparseRuns(sink, counts, size, data, content);
  ASSERT_FALSE(sink.runs.empty());
  EXPECT_FALSE(sink.runs.front().hole);
  ASSERT_TRUE(sink.runs.back().hole);
  EXPECT_EQ(sink.runs.back().length, size - (2 * kMiB + (128 << 10)));
  close(fd);
}

TEST_F(FileReaderTest, FileOfOnlyAHoleIsOneHoleRun) {
  const int fd = MakeFile("hole", {});
  ASSERT_EQ(ftruncate(fd, 3 << 20), 0);
  RecordingSink sink;
  ReadCounts counts;
  ASSERT_TRUE(Read(fd, sink, &counts).ok());
  ASSERT_EQ(sink.runs.size(), 1u);
  EXPECT_TRUE(sink.runs[0].hole);
  EXPECT_EQ(sink.runs[0].length, 3u << 20);
  EXPECT_EQ(counts.hole_bytes, 3u << 20);
  EXPECT_EQ(sink.bytes_read, 0u);
  close(fd);
}

TEST_F(FileReaderTest, StreamIsReadToItsEndAsItArrives) {
  const Bytes content = RandomBytes(300 << 10, 3);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // The writer sends odd-sized pieces, so reads end inside chunks.
  std::thread writer([&] {
    for (size_t pos = 0; pos < content.size();) {
      const size_t n = std::min<size_t>(7001, content.size() - pos);
      ASSERT_EQ(write(fds[1], content.data() + pos, n), ssize_t(n));
      pos += n;
    }
    close(fds[1]);
  });
  RecordingSink sink;
  ReadCounts counts;
  FileReader reader(kParams, TestGear());
  const Status s = reader.ReadStream(fds[0], "stdin", sink, &counts);
  writer.join();
  close(fds[0]);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(sink.Content(), content);
  EXPECT_EQ(sink.ChunkSizes(), ExpectedChunkSizes(content));
  EXPECT_EQ(counts.data_bytes, content.size());
  EXPECT_EQ(counts.hole_bytes, 0u);
  EXPECT_EQ(sink.bytes_read, content.size());
}

TEST_F(FileReaderTest, StoppedSinkAbortsBeforeReading) {
  const int fd = MakeFile("plain", RandomBytes(10000, 4));
  RecordingSink sink;
  sink.stop = true;
  ReadCounts counts;
  const Status s = Read(fd, sink, &counts);
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_TRUE(sink.runs.empty());
  EXPECT_EQ(counts.data_bytes, 0u);
  close(fd);
}

TEST_F(FileReaderTest, ReadErrorNamesTheFile) {
  close(MakeFile("plain", RandomBytes(10000, 5)));
  const int fd = open(dir_.Sub("plain").c_str(), O_WRONLY | O_CLOEXEC);  // reads fail (EBADF)
  ASSERT_GE(fd, 0);
  RecordingSink sink;
  ReadCounts counts;
  const Status s = Read(fd, sink, &counts);
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find("reading /some/file"), std::string::npos) << s.message();
  EXPECT_TRUE(sink.runs.empty());
  close(fd);
}

}  // namespace
}  // namespace repo
