#include "repo/compression.h"

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
  if (input.empty()) return false;
  const size_t start = out->size();
  // Only worth keeping if it saves something: bound the output to input.size() - 1.
  out->resize(start + ZSTD_compressBound(input.size()));
  size_t n = ZSTD_compressCCtx(cctx.get(), out->data() + start, out->size() - start,
                               input.data(), input.size(), level);
  if (ZSTD_isError(n) || n >= input.size()) {
    out->resize(start);
    return false;
  }
  out->resize(start + n);
  return true;
}

Result<Bytes> Decompress(ByteSpan frame, size_t raw_length, const std::string& what) {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR ||
      (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != raw_length)) {
    return Status::Corruption(what + ": compressed size header does not match recorded length");
  }
  Bytes out(raw_length);
  size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != raw_length) {
    return Status::Corruption(what + ": decompression failed" +
                              (ZSTD_isError(n) ? std::string(": ") + ZSTD_getErrorName(n) : ""));
  }
  return out;
}

}  // namespace repo
