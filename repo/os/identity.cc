#include "repo/os/identity.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <map>
#include <mutex>

namespace repo {
namespace {

// Owner lookups go through NSS (by default: open and parse /etc/passwd each time), so each
// answer is remembered for the process: a snapshot or restore asks for the same few owners once
// per file.
template <typename K, typename V, typename Lookup>
V Cached(std::mutex& mu, std::map<K, V>& cache, const K& key, Lookup lookup) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  V value = lookup(key);
  cache.emplace(key, value);
  return value;
}

}  // namespace

std::optional<uint32_t> UserId(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::optional<uint32_t>> cache;
  return Cached(mu, cache, name, [](const std::string& n) -> std::optional<uint32_t> {
    passwd pw, *out = nullptr;
    char buf[4096];
    if (getpwnam_r(n.c_str(), &pw, buf, sizeof buf, &out) == 0 && out) return pw.pw_uid;
    return std::nullopt;
  });
}

std::optional<uint32_t> GroupId(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::optional<uint32_t>> cache;
  return Cached(mu, cache, name, [](const std::string& n) -> std::optional<uint32_t> {
    group gr, *out = nullptr;
    char buf[4096];
    if (getgrnam_r(n.c_str(), &gr, buf, sizeof buf, &out) == 0 && out) return gr.gr_gid;
    return std::nullopt;
  });
}

std::string UserName(uint32_t uid) {
  static std::mutex mu;
  static std::map<uint32_t, std::string> cache;
  return Cached(mu, cache, uid, [](uint32_t id) {
    passwd pw, *out = nullptr;
    char buf[4096];
    return getpwuid_r(id, &pw, buf, sizeof buf, &out) == 0 && out ? std::string(pw.pw_name)
                                                                  : std::string();
  });
}

std::string GroupName(uint32_t gid) {
  static std::mutex mu;
  static std::map<uint32_t, std::string> cache;
  return Cached(mu, cache, gid, [](uint32_t id) {
    group gr, *out = nullptr;
    char buf[4096];
    return getgrgid_r(id, &gr, buf, sizeof buf, &out) == 0 && out ? std::string(gr.gr_name)
                                                                  : std::string();
  });
}

std::string LocalHostname() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace repo
