#include "repo/maintenance/verified_packs.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "repo/os/fd_io.h"

namespace repo {
namespace {

// A magic line, then per pack its id (32) and when it was last read whole (i64, Unix seconds),
// in id order.
constexpr std::string_view kMagic = "repo verified packs 1\n";

}  // namespace

VerifiedPacks LoadVerifiedPacks(const std::string& path) {
  VerifiedPacks packs;
  auto file = ReadWholeFile(path);
  if (!file.ok() || file->size() < kMagic.size() ||
      !std::equal(kMagic.begin(), kMagic.end(), file->begin())) {
    return packs;
  }
  ByteReader r(ByteSpan(*file).subspan(kMagic.size()));
  while (!r.done()) {
    ByteSpan id;
    uint64_t at;
    if (!r.Raw(Id::kSize, &id) || !r.U64(&at)) return {};
    packs[Id::FromSpan(id)] = static_cast<int64_t>(at);
  }
  return packs;
}

Status SaveVerifiedPacks(const std::string& path, const VerifiedPacks& packs) {
  std::vector<std::pair<Id, int64_t>> sorted(packs.begin(), packs.end());
  std::sort(sorted.begin(), sorted.end());
  Bytes file(kMagic.begin(), kMagic.end());
  ByteWriter w(&file);
  for (const auto& [id, at] : sorted) {
    w.Raw(id.span());
    w.U64(static_cast<uint64_t>(at));
  }
  return ReplaceWholeFile(path, file);
}

}  // namespace repo
