// Whole reads and writes on file descriptors: the EINTR and short-transfer loops written once,
// for every layer that moves bytes through an fd (the local backend, the pipelines, the CLI).
// Errors are Status::FromErrno naming `what` ("writing /srv/x", "reading stdin").
#pragma once

#include <cstdint>
#include <string>

#include "base/bytes.h"
#include "base/status.h"

namespace repo {

// Writes all of `data` to `fd` at its current position.
[[nodiscard]] Status WriteAll(int fd, ByteSpan data, const std::string& what);
// Writes all of `data` to `fd` at `offset` (pwrite: the fd's position is unchanged).
[[nodiscard]] Status PwriteAll(int fd, ByteSpan data, uint64_t offset, const std::string& what);
// One read(2) into `buf` (retried on EINTR): what a pipe or terminal has now, at least one byte
// unless at end of file (0).
Result<size_t> ReadSome(int fd, MutableByteSpan buf, const std::string& what);
// Reads from `fd`'s position until `buf` is full or end of file; returns the bytes read (less
// than buf.size() only at end of file).
Result<size_t> ReadFull(int fd, MutableByteSpan buf, const std::string& what);
// Reads from `offset` until `buf` is full or end of file; returns the bytes read.
Result<size_t> PreadFull(int fd, MutableByteSpan buf, uint64_t offset, const std::string& what);
// A new read-write file in $TMPDIR (else /tmp) with no name, gone when its descriptor is closed
// (O_TMPFILE; where the filesystem lacks it, a file made by mkostemp and unlinked at once).
// Returns the descriptor (the caller closes it). Errors name `what` and the directory.
Result<int> OpenUnnamedTempFile(const std::string& what);

// The whole of the (small) file at `path`: local caches' files. NotFound if it is not there.
Result<Bytes> ReadWholeFile(const std::string& path);
// Replaces the file at `path` with `data`: written to a file beside it, then renamed over it, so
// that a reader sees the old file or the new one, never a part (the directory is created if
// missing). For local caches: not fsync'd (a cache lost in a crash is rebuilt).
Status ReplaceWholeFile(const std::string& path, ByteSpan data);

}  // namespace repo
