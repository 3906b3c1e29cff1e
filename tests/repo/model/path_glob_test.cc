// Path globs as --exclude, --include and `repo find` take them (repo/model/path_glob.h): a pattern
// without '/' matches a name in any directory, one with '/' the whole path, where '*' crosses
// '/'; a leading '.' needs no explicit match.
#include "repo/model/path_glob.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace repo {
namespace {

TEST(PathGlobTest, PatternWithoutSlashMatchesTheLastComponent) {
  EXPECT_TRUE(PathGlobMatches("*.tmp", "/home/u/x.tmp"));
  EXPECT_TRUE(PathGlobMatches("*.tmp", "/x.tmp"));
  EXPECT_TRUE(PathGlobMatches("cache", "/home/u/cache"));
  EXPECT_TRUE(PathGlobMatches("?.c", "/src/a.c"));
  EXPECT_TRUE(PathGlobMatches("[ab].c", "/src/b.c"));
  EXPECT_FALSE(PathGlobMatches("[ab].c", "/src/c.c"));
  // Not a directory further up: only the entry's own name.
  EXPECT_FALSE(PathGlobMatches("*.tmp", "/home/u/x.tmp/inner"));
  EXPECT_FALSE(PathGlobMatches("cache", "/home/cache/file"));
  // The whole name, not a part of it.
  EXPECT_FALSE(PathGlobMatches("cache", "/home/u/cache2"));
  EXPECT_FALSE(PathGlobMatches("*.tmp", "/home/u/x.tmp.txt"));
}

TEST(PathGlobTest, PatternWithoutSlashOnARelativeName) {
  EXPECT_TRUE(PathGlobMatches("*.c", "x.c"));
  EXPECT_FALSE(PathGlobMatches("*.c", "x.h"));
}

TEST(PathGlobTest, PatternWithSlashMatchesTheWholePath) {
  EXPECT_TRUE(PathGlobMatches("/home/u/cache", "/home/u/cache"));
  EXPECT_FALSE(PathGlobMatches("/home/u/cache", "/home/u/cache/file"));  // not a prefix match
  EXPECT_FALSE(PathGlobMatches("/home/u/cache", "/other/home/u/cache"));
  EXPECT_FALSE(PathGlobMatches("u/cache", "/home/u/cache"));  // not a suffix match either
  EXPECT_TRUE(PathGlobMatches("/home/?/cache", "/home/u/cache"));
}

TEST(PathGlobTest, StarCrossesSlashesInPathPatterns) {
  EXPECT_TRUE(PathGlobMatches("/home/*/cache", "/home/u/cache"));
  EXPECT_TRUE(PathGlobMatches("/home/*/cache", "/home/u/v/w/cache"));
  EXPECT_TRUE(PathGlobMatches("/home/*", "/home/u/deep/file"));
  EXPECT_TRUE(PathGlobMatches("*/node_modules/*", "/src/app/node_modules/x/y.js"));
  EXPECT_FALSE(PathGlobMatches("/home/*/cache", "/srv/u/cache"));
  // '?' crosses '/' too: it is any one character.
  EXPECT_TRUE(PathGlobMatches("/a?b", "/a/b"));
}

TEST(PathGlobTest, LeadingDotNeedsNoExplicitMatch) {
  EXPECT_TRUE(PathGlobMatches("*.tmp", "/home/u/.x.tmp"));
  EXPECT_TRUE(PathGlobMatches("*", "/home/u/.hidden"));
  EXPECT_TRUE(PathGlobMatches("?hidden", "/home/u/.hidden"));
  EXPECT_TRUE(PathGlobMatches("/home/*", "/home/.config"));
  EXPECT_TRUE(PathGlobMatches("/home/*/x", "/home/.config/x"));
  EXPECT_TRUE(PathGlobMatches(".*", "/home/u/.hidden"));
  EXPECT_FALSE(PathGlobMatches(".*", "/home/u/visible"));
}

TEST(PathGlobTest, BackslashEscapesAMetacharacter) {
  EXPECT_TRUE(PathGlobMatches("a\\*b", "/x/a*b"));
  EXPECT_FALSE(PathGlobMatches("a\\*b", "/x/axxb"));
}

TEST(PathGlobTest, AnyPatternMatching) {
  const std::vector<std::string> patterns = {"*.o", "/srv/build/*", "core"};
  EXPECT_TRUE(AnyPathGlobMatches(patterns, "/src/main.o"));
  EXPECT_TRUE(AnyPathGlobMatches(patterns, "/srv/build/x/y"));
  EXPECT_TRUE(AnyPathGlobMatches(patterns, "/var/crash/core"));
  EXPECT_FALSE(AnyPathGlobMatches(patterns, "/src/main.c"));
  EXPECT_FALSE(AnyPathGlobMatches(patterns, "/srv/build"));  // the directory itself: no '/' after
  EXPECT_FALSE(AnyPathGlobMatches({}, "/anything"));
}

}  // namespace
}  // namespace repo
