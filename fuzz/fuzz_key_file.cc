// Fuzzes key files (crypto/key_file.h): ReadKeyFileInfo and OpenKeyFile on arbitrary bytes, and
// the round trip CreateKeyFile -> ReadKeyFileInfo / OpenKeyFile from whatever header parsed.
//
// The input is a whole key file. Seeds are built with the FIXED master keys and password below and
// the smallest Argon2id parameters (1 pass, 8 KiB); inputs whose header asks for more are parsed
// but not opened, so the fuzzer does not spend its time inside Argon2id.
//
// Invariants (abort on violation):
//   - OpenKeyFile fails exactly when ReadKeyFileInfo fails, with the same code, before any KDF;
//   - OpenKeyFile succeeds only with the fixed keys: every authentic input descends from a seed;
//   - a parsed header re-created with CreateKeyFile reads back equal and opens to the same keys,
//     and the wrong password yields WrongPassword.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "crypto/key_file.h"
#include "fuzz/fuzz_common.h"

namespace {

using repo::fuzz::FixedKeys;

constexpr uint64_t kSmallOpslimit = 1;     // crypto_pwhash_OPSLIMIT_MIN
constexpr uint64_t kSmallMemlimit = 8192;  // crypto_pwhash_MEMLIMIT_MIN

const repo::SecretBytes& Password() {
  static const repo::SecretBytes pw = repo::SecretBytes::CopyOf(repo::AsBytes("fuzz-password"));
  return pw;
}
const repo::SecretBytes& WrongPassword() {
  static const repo::SecretBytes pw = repo::SecretBytes::CopyOf(repo::AsBytes("fuzz-passworD"));
  return pw;
}

bool SameKeys(const repo::MasterKeys& a, const repo::MasterKeys& b) {
  return a.enc_key.Equals(b.enc_key) && a.id_key.Equals(b.id_key) &&
         a.chunker_seed.Equals(b.chunker_seed);
}

bool SameInfo(const repo::KeyFileInfo& a, const repo::KeyFileInfo& b) {
  return a.version == b.version && a.kdf.opslimit == b.kdf.opslimit &&
         a.kdf.memlimit == b.kdf.memlimit && a.created_unix == b.created_unix &&
         a.hostname == b.hostname && a.username == b.username;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const repo::ByteSpan file(data, size);
  auto info = repo::ReadKeyFileInfo(file);
  if (!info.ok()) {
    // Parse runs before the KDF, so this is cheap whatever the header says.
    auto opened = repo::OpenKeyFile(file, Password());
    FUZZ_CHECK(!opened.ok());
    FUZZ_CHECK(opened.status().code() == info.status().code());
    return 0;
  }
  FUZZ_CHECK(info->kdf.Validate().ok());
  FUZZ_CHECK(info->hostname.size() <= 255 && info->username.size() <= 255);
  if (info->kdf.opslimit > kSmallOpslimit || info->kdf.memlimit > kSmallMemlimit) return 0;

  auto opened = repo::OpenKeyFile(file, Password());
  if (opened.ok()) {
    FUZZ_CHECK(SameKeys(*opened, FixedKeys()));
  } else {
    FUZZ_CHECK(opened.status().code() == repo::StatusCode::kWrongPassword);
  }

  // Round trip from the parsed header.
  auto created = repo::CreateKeyFile(FixedKeys(), Password(), info->kdf, *info);
  FUZZ_CHECK(created.ok());
  auto reread = repo::ReadKeyFileInfo(*created);
  FUZZ_CHECK(reread.ok());
  FUZZ_CHECK(SameInfo(*reread, *info));
  auto reopened = repo::OpenKeyFile(*created, Password());
  FUZZ_CHECK(reopened.ok());
  FUZZ_CHECK(SameKeys(*reopened, FixedKeys()));
  auto wrong = repo::OpenKeyFile(*created, WrongPassword());
  FUZZ_CHECK(!wrong.ok() && wrong.status().code() == repo::StatusCode::kWrongPassword);
  return 0;
}

// Seeds: valid key files with the small KDF, plus a few damaged or out-of-range variants.
std::vector<repo::Bytes> FuzzSeeds() {
  const repo::KdfParams small{kSmallOpslimit, kSmallMemlimit};
  std::vector<repo::Bytes> seeds;
  auto make = [&](const repo::KeyFileInfo& info) {
    auto f = repo::CreateKeyFile(FixedKeys(), Password(), small, info);
    FUZZ_CHECK(f.ok());
    return std::move(f).value();
  };
  repo::KeyFileInfo info;
  info.version = 1;
  info.created_unix = 1700000000;
  info.hostname = "db1.example.org";
  info.username = "postgres";
  const repo::Bytes valid = make(info);
  seeds.push_back(valid);
  seeds.push_back(make(repo::KeyFileInfo{1, small, 0, "", ""}));
  seeds.push_back(
      make(repo::KeyFileInfo{1, small, -1, std::string(255, 'h'), "\xc3\xa9t\xc3\xa9"}));

  repo::Bytes v = valid;
  v[4] = 2;  // newer version
  seeds.push_back(v);
  v = valid;
  v[5] = 7;  // unknown KDF
  seeds.push_back(v);
  v = valid;
  v[8] = 2;  // valid but costlier KDF: parsed, not opened
  seeds.push_back(v);
  v = valid;
  v[9] = 0x10;  // opslimit 4097: above the sanity cap
  seeds.push_back(v);
  v = valid;
  v.back() ^= 1;  // tag
  seeds.push_back(v);
  v = valid;
  v.pop_back();  // truncated
  seeds.push_back(v);
  v = valid;
  v.push_back(0);  // trailing byte
  seeds.push_back(v);
  return seeds;
}
