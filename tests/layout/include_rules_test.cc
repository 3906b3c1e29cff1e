// The layout's direction, checked over every #include (docs/design.md, "Layout"). CMake link
// dependencies keep libraries from linking upward; this keeps their headers from being included
// upward too, and keeps each third-party library inside the one folder allowed to use it.
//
// A new folder under repo/ (maintenance/, postgres/) fails this test until it has a rule here
// and a place in docs/design.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// The product's folders and, for each, the folders its files may include (besides its own).
// Downward only: base <- leaves <- storage <- store <- model <- pipelines and queries <- front
// doors. The two pipelines, the queries and maintenance do not include each other.
const std::map<std::string, std::set<std::string>>& ProductRules() {
  static const auto* rules = [] {
    const std::set<std::string> store_deps = {"base",    "repo/os", "repo/storage",
                                              "chunker", "crypto",  "index"};
    std::set<std::string> model_deps = store_deps;
    model_deps.insert("repo/store");
    std::set<std::string> stage_deps = model_deps;
    stage_deps.insert("repo/model");
    std::set<std::string> front_door = stage_deps;
    for (const char* f : {"repo/archiver", "repo/restorer", "repo/query", "repo/maintenance"}) {
      front_door.insert(f);
    }
    // The command line starts the mount (`repo mount`); the mount knows nothing of the CLI.
    std::set<std::string> cli_deps = front_door;
    cli_deps.insert("fuse");
    return new std::map<std::string, std::set<std::string>>{
        {"base", {}},
        {"chunker", {"base"}},
        {"crypto", {"base"}},
        {"index", {"base"}},
        {"repo/os", {"base"}},
        {"repo/storage", {"base", "repo/os"}},
        {"repo/store", store_deps},
        {"repo/model", model_deps},
        {"repo/archiver", stage_deps},
        {"repo/restorer", stage_deps},
        {"repo/query", stage_deps},
        {"repo/maintenance", stage_deps},
        {"cli", cli_deps},
        {"fuse", front_door},
    };
  }();
  return *rules;
}

// Folders of tests and tools: they may include any product folder and their own.
const std::set<std::string> kToolFolders = {"tests", "bench", "fuzz"};

// Third-party headers (by the first component of the <...> name) and the only product folders
// that may include them. Tests and tools may include them all.
const std::map<std::string, std::set<std::string>> kThirdParty = {
    {"sodium.h", {"crypto"}},
    {"sodium", {"crypto"}},
    {"rocksdb", {"index"}},
    {"zstd.h", {"repo/store"}},
    {"zstd_errors.h", {"repo/store"}},
    {"curl", {"repo/storage"}},
    {"spdlog", {"cli", "fuse"}},
    {"cxxopts.hpp", {"cli"}},
    {"fuse3", {"fuse"}},
    {"fuse.h", {"fuse"}},
    {"gtest", {}},
    {"gmock", {}},
    {"benchmark", {}},
};

// The folder of a path relative to the source root ("repo/store/pack.h" -> "repo/store"), or ""
// if it is in none that the rules know.
std::string FolderOf(const std::string& path) {
  std::string best;
  auto consider = [&](const std::string& folder) {
    if (path.size() > folder.size() && path.compare(0, folder.size(), folder) == 0 &&
        path[folder.size()] == '/' && folder.size() > best.size()) {
      best = folder;
    }
  };
  for (const auto& [folder, deps] : ProductRules()) consider(folder);
  for (const auto& folder : kToolFolders) consider(folder);
  return best;
}

// Every violation in `file` (relative to the root) with contents `text`, one message each.
std::vector<std::string> CheckFile(const std::string& file, const std::string& text) {
  std::vector<std::string> errors;
  const std::string from = FolderOf(file);
  if (from.empty()) {
    return {file + ": in no folder the layout knows; add a rule to include_rules_test.cc"};
  }
  const bool tool = kToolFolders.count(from) > 0;
  std::istringstream in(text);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line.compare(start, 8, "#include") != 0) continue;
    const size_t open = line.find_first_of("\"<", start + 8);
    if (open == std::string::npos) continue;
    const char close_char = line[open] == '"' ? '"' : '>';
    const size_t close = line.find(close_char, open + 1);
    if (close == std::string::npos) continue;
    const std::string target = line.substr(open + 1, close - open - 1);
    const std::string where = file + ":" + std::to_string(line_no) + ": ";
    if (line[open] == '"') {
      const std::string to = FolderOf(target);
      if (to.empty()) {
        errors.push_back(where + "\"" + target + "\" is not a path from the source root");
      } else if (to != from && !tool) {
        const auto& allowed = ProductRules().at(from);
        if (allowed.count(to) == 0 || kToolFolders.count(to) > 0) {
          errors.push_back(where + from + "/ may not include " + to + "/ (\"" + target + "\")");
        }
      }
      continue;
    }
    const std::string first = target.substr(0, target.find('/'));
    auto it = kThirdParty.find(first);
    if (it != kThirdParty.end() && !tool && it->second.count(from) == 0) {
      errors.push_back(where + "<" + target + "> is confined to other folders than " + from + "/");
    }
  }
  return errors;
}

TEST(IncludeRules, CatchesAnUpwardIncludeAThirdPartyOutsideItsFolderAndAnUnknownFolder) {
  EXPECT_EQ(CheckFile("repo/store/pack.cc", "#include \"repo/model/tree.h\"\n").size(), 1u);
  EXPECT_EQ(CheckFile("repo/archiver/a.cc", "#include \"repo/restorer/restorer.h\"\n").size(), 1u);
  EXPECT_EQ(CheckFile("repo/storage/a.cc", "#include <sodium.h>\n").size(), 1u);
  EXPECT_EQ(CheckFile("repo/store/a.cc", "  #include <rocksdb/db.h>\n").size(), 1u);
  EXPECT_EQ(CheckFile("repo/newstage/a.cc", "").size(), 1u);
  EXPECT_EQ(CheckFile("repo/a.cc", "").size(), 1u);
  EXPECT_EQ(CheckFile("cli/a.cc", "#include \"tests/support/temp_dir.h\"\n").size(), 1u);
  // Allowed: downward, within a folder, tools anywhere, system headers.
  EXPECT_TRUE(CheckFile("repo/model/tree_io.cc",
                        "#include \"repo/store/blob_store.h\"\n#include \"repo/model/tree.h\"\n"
                        "#include <vector>\n#include <sys/stat.h>\n")
                  .empty());
  EXPECT_TRUE(
      CheckFile("tests/x_test.cc", "#include <rocksdb/db.h>\n#include \"cli/json.h\"\n").empty());
}

TEST(IncludeRules, EverySourceFileFollowsThem) {
  const fs::path root = REPO_SOURCE_DIR;
  std::vector<std::string> errors;
  size_t files = 0;
  for (const char* top :
       {"base", "chunker", "crypto", "index", "repo", "cli", "fuse", "tests", "bench", "fuzz"}) {
    if (!fs::exists(root / top)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".h" && ext != ".cc")) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      const std::string rel = fs::relative(entry.path(), root).generic_string();
      for (auto& e : CheckFile(rel, text.str())) errors.push_back(std::move(e));
      ++files;
    }
  }
  EXPECT_GT(files, 100u);
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  EXPECT_TRUE(errors.empty()) << errors.size() << " forbidden includes:\n" << all;
}

}  // namespace
