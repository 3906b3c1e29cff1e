// zstd compression of blobs and objects. Contexts are reused per thread, so these are cheap to
// call from the write pipeline's workers. Thread-safe.
#pragma once

#include "base/bytes.h"
#include "base/status.h"

namespace repo {

// Appends zstd(input) at `level` to *out and returns true when that is smaller than the input;
// otherwise leaves *out unchanged and returns false (store the input as it is).
bool CompressIfSmaller(ByteSpan input, int level, Bytes* out);

// Decompresses a frame whose content is exactly `raw_length` bytes. Corruption (naming `what`)
// on a malformed frame or any other size: the caller's recorded length is authoritative, so a
// hostile frame cannot make us allocate more than raw_length.
Result<Bytes> Decompress(ByteSpan frame, size_t raw_length, const std::string& what);
// Decompress into `out`, whose size is the frame's recorded length (the same checks as
// Decompress). On error `out` is unspecified.
Status DecompressInto(ByteSpan frame, MutableByteSpan out, const std::string& what);

}  // namespace repo
