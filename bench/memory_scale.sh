#!/bin/bash
# Peak RSS against file size (docs/perf.md, "Memory against file size"): one stream of each size
# (default 1 and 8 GiB of incompressible bytes, AES-CTR output of openssl) is stored with
# `repo snapshot --stdin`, then dumped to /dev/null and restored; the peak RSS of each command
# (GNU time's %M) is printed per size, with the growth per GiB beside the target: flat, i.e. the
# largest size within 40 MiB of the smallest (RocksDB's 32 MiB block cache fills as the index
# grows; nothing else may).
#
# Usage: bash bench/memory_scale.sh [--sizes-gb "1 8"]
# Environment: REPO_BIN (default build/cli/repo). Needs the largest size free under /tmp for the
# restore; everything is removed on exit.
set -euo pipefail
sizes="1 8"
while (($#)); do
  case $1 in
    --sizes-gb) sizes=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "memory_scale.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
repo_root=$(cd "$(dirname "$0")/.." && pwd)
REPO_BIN=$(realpath "${REPO_BIN:-$repo_root/build/cli/repo}")
[[ -x $REPO_BIN ]] || { echo "memory_scale.sh: no repo binary at $REPO_BIN (build first)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "memory_scale.sh: needs GNU time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d /tmp/memory-scale.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'memory-bench\n' >"$work/password"
export REPO_PASSWORD_FILE=$work/password REPO_CACHE_DIR=$work/cache
unset REPO_REPOSITORY
"$REPO_BIN" -r "$work/repo" init --kdf-memory-kib 8192 --kdf-iterations 1 >/dev/null
gen() {  # gen GIB SEED: incompressible bytes, different per seed
  (set +o pipefail; openssl enc -aes-128-ctr -nosalt -pass "pass:memory-$2" -in /dev/zero \
    2>/dev/null | head -c $(($1 << 30)))
}
rss() {  # rss COMMAND...: runs it, prints its peak RSS in MiB
  /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null
  echo $(($(cat "$work/rss") / 1024))
}
printf '\npeak RSS (MiB) of repo %s, 2 cores\n' "$("$REPO_BIN" version | head -1)"
printf '  %8s %10s %10s %10s\n' size snapshot dump restore
declare -A snap dump restore
for gb in $sizes; do
  snap[$gb]=$(gen "$gb" "$gb" | rss "$REPO_BIN" -r "$work/repo" snapshot --no-progress --stdin \
    --stdin-filename "f$gb")
  dump[$gb]=$(rss "$REPO_BIN" -r "$work/repo" dump latest "f$gb")
  restore[$gb]=$(rss "$REPO_BIN" -r "$work/repo" restore latest --target "$work/out")
  rm -rf "$work/out"
  printf '  %6s G %10s %10s %10s\n' "$gb" "${snap[$gb]}" "${dump[$gb]}" "${restore[$gb]}"
done
read -r -a list <<<"$sizes"
lo=${list[0]} hi=${list[-1]}
verdict=MET
for cmd in snap dump restore; do
  declare -n m=$cmd
  grow=$((m[$hi] - m[$lo]))
  ok=MET
  ((grow <= 40)) || { ok="NOT MET"; verdict="NOT MET"; }
  printf '  %-8s %4s G -> %4s G: %+5d MiB (%+.1f MiB per GiB)   target: within 40 MiB: %s\n' \
    "$cmd" "$lo" "$hi" "$grow" "$(awk -v g="$grow" -v d=$((hi - lo)) 'BEGIN { print g / d }')" "$ok"
done
echo "  memory flat in file size: $verdict"
