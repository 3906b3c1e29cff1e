#include "repo/maintenance/forget.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
#include <tuple>

namespace repo {
namespace {

// The calendar buckets of the --keep-<unit> rules, in local time: two snapshots in the same
// bucket of a unit count once for that unit.
struct Buckets {
  int64_t hour, day, week, month, year;
};

Buckets BucketsOf(int64_t time_ns) {
  const time_t t = static_cast<time_t>(time_ns / 1000000000);
  struct tm tm {};
  localtime_r(&t, &tm);
  char iso[16];
  strftime(iso, sizeof iso, "%G%V", &tm);  // ISO year and week: "202649"
  const int64_t year = tm.tm_year + 1900;
  const int64_t day = year * 1000 + tm.tm_yday;
  return {day * 100 + tm.tm_hour, day, std::stoll(iso), year * 100 + tm.tm_mon, year};
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

bool HasAll(const Snapshot& s, const std::vector<std::string>& tags) {
  for (const std::string& t : tags) {
    if (std::find(s.tags.begin(), s.tags.end(), t) == s.tags.end()) return false;
  }
  return true;
}

std::string DurationText(int64_t ns) {
  int64_t s = ns / 1000000000;
  std::string out;
  // --keep-within's units (cli/cmd_forget.cc): years of 365 days, months of 30.
  for (const auto& [unit, secs] : {std::pair<const char*, int64_t>{"y", 365 * 86400},
                                   {"m", 30 * 86400},
                                   {"d", 86400},
                                   {"h", 3600}}) {
    if (s >= secs) {
      out += std::to_string(s / secs) + unit;
      s %= secs;
    }
  }
  return out.empty() ? "0h" : out;
}

void Decide(ForgetGroup* g, const RetentionPolicy& p) {
  std::vector<ForgetDecision>& all = g->snapshots;
  std::sort(all.begin(), all.end(), [](const ForgetDecision& a, const ForgetDecision& b) {
    return std::tie(a.snapshot.snapshot.time_ns, a.snapshot.id) >
           std::tie(b.snapshot.snapshot.time_ns, b.snapshot.id);
  });
  auto keep = [](ForgetDecision& d, std::string why) {
    d.keep = true;
    d.reasons.push_back(std::move(why));
  };
  for (size_t i = 0; i < all.size() && i < static_cast<size_t>(p.last); ++i) {
    keep(all[i], "last snapshot");
  }
  // Each unit: the newest snapshot of each of the newest `count` buckets that have one.
  struct Unit {
    int count;
    int64_t Buckets::*bucket;
    const char* name;
  };
  for (const Unit& u : {Unit{p.hourly, &Buckets::hour, "hourly snapshot"},
                        Unit{p.daily, &Buckets::day, "daily snapshot"},
                        Unit{p.weekly, &Buckets::week, "weekly snapshot"},
                        Unit{p.monthly, &Buckets::month, "monthly snapshot"},
                        Unit{p.yearly, &Buckets::year, "yearly snapshot"}}) {
    int left = u.count;
    std::optional<int64_t> last;
    for (ForgetDecision& d : all) {
      if (left <= 0) break;
      const int64_t b = BucketsOf(d.snapshot.snapshot.time_ns).*u.bucket;
      if (last && *last == b) continue;
      last = b;
      --left;
      keep(d, u.name);
    }
  }
  if (p.within_ns > 0 && !all.empty()) {
    const int64_t newest = all.front().snapshot.snapshot.time_ns;
    for (ForgetDecision& d : all) {
      if (d.snapshot.snapshot.time_ns >= newest - p.within_ns) {
        keep(d, "within " + DurationText(p.within_ns));
      }
    }
  }
  for (const std::vector<std::string>& tags : p.tags) {
    std::string name;
    for (const std::string& t : tags) name += (name.empty() ? "" : ",") + t;
    for (ForgetDecision& d : all) {
      if (HasAll(d.snapshot.snapshot, tags)) keep(d, "tag " + name);
    }
  }
}

}  // namespace

Result<GroupBy> ParseGroupBy(const std::string& text) {
  GroupBy g{false, false, false};
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string part = text.substr(start, end - start);
    if (part == "host") {
      g.host = true;
    } else if (part == "paths") {
      g.paths = true;
    } else if (part == "tags") {
      g.tags = true;
    } else if (!part.empty()) {
      return Status::InvalidArgument("--group-by: '" + part +
                                     "' is not host, paths or tags (comma-separated, or '')");
    }
    start = end + 1;
  }
  return g;
}

std::vector<ForgetGroup> ApplyPolicy(const std::vector<SnapshotRef>& snapshots,
                                     const RetentionPolicy& policy, const GroupBy& group_by) {
  using Key = std::tuple<std::string, std::vector<std::string>, std::vector<std::string>>;
  std::map<Key, ForgetGroup> groups;
  for (const SnapshotRef& s : snapshots) {
    Key key{group_by.host ? s.snapshot.hostname : "",
            group_by.paths ? Sorted(s.snapshot.paths) : std::vector<std::string>{},
            group_by.tags ? Sorted(s.snapshot.tags) : std::vector<std::string>{}};
    ForgetGroup& g = groups[key];
    std::tie(g.host, g.paths, g.tags) = key;
    g.snapshots.push_back(ForgetDecision{s, false, {}});
  }
  std::vector<ForgetGroup> out;
  for (auto& [key, g] : groups) {
    Decide(&g, policy);
    out.push_back(std::move(g));
  }
  std::stable_sort(out.begin(), out.end(), [](const ForgetGroup& a, const ForgetGroup& b) {
    return a.snapshots.front().snapshot.snapshot.time_ns >
           b.snapshots.front().snapshot.snapshot.time_ns;
  });
  return out;
}

Status RemoveSnapshot(const MetadataStore& metadata, const Id& id) {
  Status s = metadata.backend().Delete({FileType::kSnapshot, id.Hex()});
  if (s.IsNotFound()) return Status::OK();
  return s;
}

}  // namespace repo
