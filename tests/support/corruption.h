// Byte-flip and truncation drivers for decoder tests (after leveldb db/log_test.cc): a decoder
// handed a damaged input must return a non-OK Status with the expected code — never succeed, never
// crash. Header-only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/status.h"

namespace repo::test {

// Decodes `input`; only the Status matters.
using DecodeFn = std::function<Status(ByteSpan input)>;
// The code a decoder must return for the input with byte `pos` changed to `value`.
using ExpectedCodeFn = std::function<StatusCode(size_t pos, uint8_t value)>;

inline StatusCode AlwaysCorruption(size_t, uint8_t) { return StatusCode::kCorruption; }

// Every position of an input of `size` bytes when it is at most 2 * edge long; otherwise the first
// and last `edge` bytes (headers, trailers) and every `stride`-th byte between.
inline std::vector<size_t> FlipPositions(size_t size, size_t edge = 512, size_t stride = 37) {
  std::vector<size_t> out;
  for (size_t i = 0; i < size; ++i) {
    if (size <= 2 * edge || i < edge || i >= size - edge || (i - edge) % stride == 0) {
      out.push_back(i);
    }
  }
  return out;
}

// XORs each position with 0x01, 0x80 and 0xff in turn; each damaged input must fail with
// expected(pos, new value). Reports at most a few failures.
inline void ExpectEveryFlipFails(const Bytes& good, const DecodeFn& decode,
                                 const ExpectedCodeFn& expected = AlwaysCorruption,
                                 const std::vector<size_t>& positions = {}) {
  ASSERT_TRUE(decode(good).ok()) << "the undamaged input must decode";
  const std::vector<size_t> where = positions.empty() ? FlipPositions(good.size()) : positions;
  int reported = 0;
  Bytes damaged = good;
  for (size_t pos : where) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      damaged[pos] = good[pos] ^ mask;
      Status s = decode(damaged);
      StatusCode want = expected(pos, damaged[pos]);
      if (s.code() != want && reported++ < 5) {
        ADD_FAILURE() << "byte " << pos << " of " << good.size() << " xor 0x" << std::hex
                      << int{mask} << std::dec << ": got " << (s.ok() ? "OK" : s.ToString())
                      << ", want code " << int(want);
      }
    }
    damaged[pos] = good[pos];
  }
}

// Every proper prefix of `good` (every length from 0 to size - 1) must fail with `want`.
inline void ExpectEveryTruncationFails(const Bytes& good, const DecodeFn& decode,
                                       StatusCode want = StatusCode::kCorruption) {
  ASSERT_TRUE(decode(good).ok()) << "the undamaged input must decode";
  int reported = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    Status s = decode(ByteSpan(good).first(n));
    if (s.code() != want && reported++ < 5) {
      ADD_FAILURE() << "prefix of " << n << " of " << good.size() << " bytes: got "
                    << (s.ok() ? "OK" : s.ToString());
    }
  }
}

}  // namespace repo::test
