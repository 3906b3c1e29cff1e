#include "base/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace repo {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::OK().ok());
  Status s = Status::Corruption("pack 1234: bad trailer");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.ToString(), "Corruption: pack 1234: bad trailer");
  EXPECT_EQ(s.WithContext("check").message(), "check: pack 1234: bad trailer");
}

TEST(StatusTest, FromErrnoClassifies) {
  EXPECT_EQ(Status::FromErrno(ENOENT, "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(Status::FromErrno(EEXIST, "x").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Status::FromErrno(EINTR, "x").code(), StatusCode::kTransient);
  EXPECT_EQ(Status::FromErrno(EIO, "open y").code(), StatusCode::kIOError);
  EXPECT_NE(Status::FromErrno(EIO, "open y").message().find("open y: "), std::string::npos);
}

TEST(StatusTest, ResultPropagates) {
  auto r = Quarter(12);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
  auto bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "odd: 3");
}

TEST(StatusTest, ResultFromOkStatusIsAnError) {
  Result<int> r = Status::OK();
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace repo
