#include "repo/store/compression.h"

#include <zstd.h>

#include <memory>

namespace repo {
namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

bool CompressIfSmaller(ByteSpan input, int level, Bytes* out) {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  // Compressed first into a per-thread buffer that only ever grows, so that the common case
  // neither allocates nor zero-fills a bound-sized output; a buffer grown past kKeepScratch (a
  // tree piece or an odd large chunk) is released again.
  constexpr size_t kKeepScratch = 1 << 20;
  thread_local Bytes scratch;
  if (input.empty()) return false;
  const size_t bound = ZSTD_compressBound(input.size());
  if (scratch.size() < bound) scratch.resize(bound);
  size_t n =
      ZSTD_compressCCtx(cctx.get(), scratch.data(), bound, input.data(), input.size(), level);
  // Only worth keeping if it saves something.
  const bool smaller = !ZSTD_isError(n) && n < input.size();
  if (smaller) out->insert(out->end(), scratch.data(), scratch.data() + n);
  if (scratch.size() > kKeepScratch) Bytes().swap(scratch);
  return smaller;
}

Result<Bytes> Decompress(ByteSpan frame, size_t raw_length, const std::string& what) {
  Bytes out(raw_length);
  RETURN_IF_ERROR(DecompressInto(frame, out, what));
  return out;
}

Status DecompressInto(ByteSpan frame, MutableByteSpan out, const std::string& what) {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  const size_t raw_length = out.size();
  unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR ||
      (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != raw_length)) {
    return Status::Corruption(what + ": compressed size header does not match recorded length");
  }
  size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != raw_length) {
    return Status::Corruption(what + ": decompression failed" +
                              (ZSTD_isError(n) ? std::string(": ") + ZSTD_getErrorName(n) : ""));
  }
  return Status::OK();
}

}  // namespace repo
