// RepoCli: runs the built `repo` binary against one test repository the way a script does
// (`repo -r REPO --password-file PW ...`, own cache directory, no terminal), for system tests.
// Header-only; link tests/support/subprocess.cc.
#pragma once

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/support/mini_json.h"
#include "tests/support/subprocess.h"

namespace repo::test {

class RepoCli {
 public:
  // `binary`: the repo executable. `dir`: an existing directory that holds the repository
  // (dir/repo), its password file (dir/pw) and the cache (dir/cache).
  RepoCli(std::string binary, const std::string& dir)
      : binary_(std::move(binary)),
        repo_(dir + "/repo"),
        password_file_(dir + "/pw"),
        cache_dir_(dir + "/cache") {
    WriteFile(password_file_, "correct horse battery staple\n");
  }

  const std::string& binary() const { return binary_; }
  const std::string& repo() const { return repo_; }
  const std::string& password_file() const { return password_file_; }
  const std::string& cache_dir() const { return cache_dir_; }

  // `repo init` with a cheap key derivation (the defaults cost ~0.1 s per command).
  RunResult Init() const { return Run({"init", "--kdf-memory-kib", "8", "--kdf-iterations", "1"}); }

  // The argument list for `repo -r REPO --password-file PW --cache-dir CACHE args...`.
  std::vector<std::string> Args(const std::vector<std::string>& args) const {
    std::vector<std::string> full = {"-r",           repo_,         "--password-file",
                                     password_file_, "--cache-dir", cache_dir_};
    full.insert(full.end(), args.begin(), args.end());
    return full;
  }

  RunResult Run(const std::vector<std::string>& args, const std::string& stdin_data = "") const {
    return RunProgram(binary_, Args(args), {}, stdin_data);
  }

  // Parses `repo snapshot --json` output: the last line is the summary (earlier lines may be
  // progress records). A null value if there is none.
  static JsonValue Summary(const RunResult& r) {
    auto lines = JsonValue::ParseLines(r.out);
    if (!lines) return JsonValue();
    for (auto it = lines->rbegin(); it != lines->rend(); ++it) {
      if ((*it)["message_type"].Str() == "summary") return *it;
    }
    return JsonValue();
  }

  // `repo snapshots --json`, parsed (an empty array on failure, with the failure in `err`).
  JsonValue Snapshots(const std::vector<std::string>& filter = {},
                      std::string* err = nullptr) const {
    std::vector<std::string> args = {"snapshots", "--json"};
    args.insert(args.end(), filter.begin(), filter.end());
    RunResult r = Run(args);
    if (err) *err = r.err;
    auto v = JsonValue::Parse(r.out);
    return r.exit_code == 0 && v ? *v : JsonValue();
  }

  // Relative paths of the regular files under repo/`sub` ("data", "index", "snapshots", ...).
  std::set<std::string> FilesIn(const std::string& sub) const {
    std::set<std::string> out;
    std::error_code ec;
    const std::string base = repo_ + "/" + sub;
    for (auto it = std::filesystem::recursive_directory_iterator(base, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file()) {
        out.insert(it->path().lexically_relative(base).string());
      }
    }
    return out;
  }

 private:
  std::string binary_, repo_, password_file_, cache_dir_;
};

// Lines of `text` (without the newlines).
inline std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Elements of `b` not in `a`.
inline std::set<std::string> Added(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::set<std::string> out;
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::inserter(out, out.end()));
  return out;
}

}  // namespace repo::test
