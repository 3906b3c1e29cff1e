// StreamContent (repo/restorer/content_stream.h): a file's runs come out byte for byte in order,
// holes as zeros, whatever the number of reader threads; a missing or damaged blob and a failing
// sink stop the stream with an error.
#include "repo/restorer/content_stream.h"

#include <gtest/gtest.h>

#include "repo/model/tree_io.h"
#include "repo/storage/memory_backend.h"
#include "tests/support/test_repo.h"

namespace repo {
namespace {

using test::CompressibleBytes;
using test::RandomBytes;

class ContentStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = test::InitSmallRepo(storage_, dir_.Sub("cache"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    auto s = repo_->blobs();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = *s;
  }

  // Appends a data run holding `data` to the file being built.
  void Data(const Bytes& data) {
    auto put = store_->Put(BlobType::kData, data);
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    runs_.push_back(ContentRun{put->id, data.size(), false});
    expected_.insert(expected_.end(), data.begin(), data.end());
  }
  void Hole(uint64_t n) {
    runs_.push_back(ContentRun{Id(), n, true});
    expected_.insert(expected_.end(), n, 0);
  }

  // The file node of the runs added so far: inline, or (more than kMaxInlineRuns) a content list,
  // written and flushed.
  Node File() {
    Node file;
    file.name = "f";
    file.size = expected_.size();
    ContentWriter writer(*store_);
    for (const ContentRun& r : runs_) EXPECT_TRUE(writer.Add(r).ok());
    EXPECT_TRUE(writer.Finish(&file).ok());
    EXPECT_TRUE(store_->Flush().ok());
    return file;
  }

  Status Stream(int threads, Bytes* out) {
    out->clear();
    return StreamContent(
        *repo_, File(),
        [out](ByteSpan b) {
          out->insert(out->end(), b.begin(), b.end());
          return Status::OK();
        },
        threads);
  }

  test::TempDir dir_;
  MemoryBackend storage_;
  std::unique_ptr<Repository> repo_;
  BlobStore* store_ = nullptr;
  std::vector<ContentRun> runs_;
  Bytes expected_;
};

TEST_F(ContentStreamTest, RunsHolesAndRepeatedBlobsComeOutInOrderWithAnyThreadCount) {
  Hole(3000);
  for (int i = 0; i < 40; ++i) Data(RandomBytes(17000 + i * 1000, i));  // several packs
  Hole(5 << 20);  // larger than the zero buffer
  Data(CompressibleBytes(100000, 7));
  Data(RandomBytes(17000, 0));  // the first blob again
  for (int i = 0; i < 10; ++i) Data(RandomBytes(1000, 100 + i));
  Hole(1);
  ASSERT_TRUE(store_->Flush().ok());
  for (int threads : {1, 2, 5}) {
    Bytes out;
    Status s = Stream(threads, &out);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(out == expected_) << "threads " << threads << ": " << out.size() << " bytes, want "
                                  << expected_.size();
  }
}

TEST_F(ContentStreamTest, ManyRunsAcrossLookupWindows) {
  // More runs than one lookup window (4096), each a small blob or a hole.
  for (int i = 0; i < 5000; ++i) {
    if (i % 7 == 3) {
      Hole(10 + i % 5);
    } else {
      Data(RandomBytes(64 + i % 50, 1000 + static_cast<uint64_t>(i % 300)));
    }
  }
  ASSERT_TRUE(store_->Flush().ok());
  Bytes out;
  Status s = Stream(2, &out);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(out == expected_);
}

TEST_F(ContentStreamTest, AnEmptyFileStreamsNothing) {
  Bytes out{1, 2, 3};
  ASSERT_TRUE(Stream(2, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST_F(ContentStreamTest, ABlobNotInTheIndexIsCorruptionNamingIt) {
  for (int i = 0; i < 5; ++i) Data(RandomBytes(20000, i));
  ASSERT_TRUE(store_->Flush().ok());
  Id missing = Id::FromSpan(RandomBytes(Id::kSize, 99));
  runs_.insert(runs_.begin() + 2, ContentRun{missing, 10, false});
  Bytes out;
  Status s = Stream(2, &out);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find(missing.ShortHex()), std::string::npos) << s.message();
  // The two runs before it were delivered, and the error names where the loss starts.
  EXPECT_NE(s.message().find("from offset 40000"), std::string::npos) << s.message();
  ASSERT_EQ(out.size(), 40000u);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), expected_.begin()));
}

TEST_F(ContentStreamTest, ADamagedBlobStopsTheStreamAfterTheBytesBeforeIt) {
  for (int i = 0; i < 30; ++i) Data(RandomBytes(20000, i));
  ASSERT_TRUE(store_->Flush().ok());
  auto loc = store_->Find(runs_[20].blob);
  ASSERT_TRUE(loc.ok() && loc->has_value());
  ASSERT_TRUE(
      test::FlipStoredByte(storage_, {FileType::kPack, (*loc)->pack.Hex()}, (*loc)->offset + 30)
          .ok());
  Bytes out;
  Status s = Stream(2, &out);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find(runs_[20].blob.ShortHex()), std::string::npos) << s.message();
  EXPECT_LE(out.size(), 20u * 20000);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), expected_.begin()));
  // Exactly at it: the blobs before it in its piece are read again one by one and delivered.
  EXPECT_NE(s.message().find("from offset 400000"), std::string::npos) << s.message();
  EXPECT_EQ(out.size(), 20u * 20000);
}

TEST_F(ContentStreamTest, ASinkErrorStopsTheStream) {
  for (int i = 0; i < 30; ++i) {
    Data(RandomBytes(20000, i));
    Hole(100);  // the sink is called at least once per run
  }
  ASSERT_TRUE(store_->Flush().ok());
  int calls = 0;
  Status s = StreamContent(*repo_, File(), [&](ByteSpan) {
    return ++calls == 3 ? Status::IOError("writing to stdout: Broken pipe") : Status::OK();
  });
  EXPECT_EQ(s.message(), "writing to stdout: Broken pipe");
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace repo
