// Streaming a file's content out of a snapshot in order (`repo dump`; later the mount's
// sequential reads and wal-fetch).
//
// Data runs are read through the read seam (repo/store/pack_reader.h) by one worker per core,
// ahead of the caller: runs whose blobs lie back to back in a pack are one piece, one ranged read
// of up to 4 MiB, opened and re-hashed in batches. The calling thread hands the pieces to the
// sink strictly in file order, and holes as zeros. Memory is bounded whatever the file's size:
// at most a few pieces per worker are fetched ahead (each ≤ 4 MiB sealed and ≤ 4 MiB plaintext,
// unless one chunk is larger), and the runs are read from the file's node or content list
// (repo/model/tree_io.h ContentReader) and located a window of 4096 at a time.
#pragma once

#include <functional>
#include <vector>

#include "base/bytes.h"
#include "base/status.h"
#include "repo/model/tree.h"
#include "repo/store/repository.h"

namespace repo {

// Takes the next bytes of the stream; an error stops it and is returned.
using ByteSink = std::function<Status(ByteSpan bytes)>;

// Writes the content of `file` (a file node) to `sink`, in order, with `threads` readers (0: one
// per core). Errors: Corruption naming a blob that is not in the index or fails verification, or
// a damaged content list, and the offset in the file from which content is lost; the backend's
// read errors (with the offset too), or the sink's. On error the sink has received every byte
// before that offset.
Status StreamContent(Repository& repo, const Node& file, const ByteSink& sink, int threads = 0);

}  // namespace repo
