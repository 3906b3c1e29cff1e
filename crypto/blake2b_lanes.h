// Keyed BLAKE2b-256 of many messages at once, eight in the lanes of AVX-512 registers. The same
// function as libsodium's crypto_generichash with a 32-byte key and a 32-byte output (RFC 7693),
// computed about three times faster per byte on a batch: one message's blocks depend on each
// other, so a single stream cannot use a 512-bit register's width, but eight messages can. Used
// for blob ids (KeyedHashMany in crypto/hash.h); tests check it against libsodium.
#pragma once

#include <span>

#include "base/bytes.h"
#include "base/id.h"

namespace repo {

// True if this CPU and OS run the lanes (AVX-512F with its registers enabled).
bool Blake2bLanesAvailable();

// ids[i] = BLAKE2b-256(key, data[i]) for every i.
// REQUIRES: Blake2bLanesAvailable(), key.size() == 32, ids.size() == data.size(), every data[i]
// non-empty (an empty keyed message hashes differently: its key block is the last block).
void Blake2bKeyedLanes(ByteSpan key, std::span<const ByteSpan> data, std::span<Id> ids);

}  // namespace repo
