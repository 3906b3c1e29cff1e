#!/bin/bash
# `repo dump` against `restic dump` of the same large file in one run (docs/perf.md, "Dump"):
# a stream of incompressible bytes (default 4 GiB) is stored by both tools with --stdin, then each
# dumps it to /dev/null five times, alternating, with the repositories in the page cache (what is
# measured is the read path's CPU: fetch, decrypt, decompress, re-hash, write). The median wall
# time of each is reported, and repo's throughput beside the target: at least 2x restic's.
#
# Usage: bash bench/dump_compare.sh [--size-gb N] [--runs N]
# Environment: REPO_BIN (a built `repo`; default build/cli/repo). Installs restic (apt-get) if
# missing. Needs about 3 x the size free under /tmp; everything is removed on exit.
set -euo pipefail
size_gb=4
runs=5
while (($#)); do
  case $1 in
    --size-gb) size_gb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "dump_compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
repo_root=$(cd "$(dirname "$0")/.." && pwd)
REPO_BIN=$(realpath "${REPO_BIN:-$repo_root/build/cli/repo}")
[[ -x $REPO_BIN ]] || { echo "dump_compare.sh: no repo binary at $REPO_BIN (build first)" >&2; exit 1; }
if ! command -v restic >/dev/null; then
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get install -y -qq restic >/dev/null
fi
log() { printf '== %s %s\n' "$(date +%T)" "$*" >&2; }

work=$(mktemp -d /tmp/dump-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'dump-bench-password\n' >"$work/password"
export RESTIC_PASSWORD_FILE=$work/password RESTIC_CACHE_DIR=$work/restic-cache
export REPO_PASSWORD_FILE=$work/password REPO_CACHE_DIR=$work/repo-cache
unset RESTIC_REPOSITORY REPO_REPOSITORY

log "storing a ${size_gb} GiB incompressible stream in both repositories"
# Incompressible and cheap to make: AES-CTR output of openssl, else /dev/urandom.
gen() {
  if command -v openssl >/dev/null; then
    # openssl ends on SIGPIPE once head has its bytes: not a failure.
    (set +o pipefail; openssl enc -aes-128-ctr -nosalt -pass pass:dump-bench -in /dev/zero \
      2>/dev/null | head -c $((size_gb << 30)))
  else
    head -c $((size_gb << 30)) /dev/urandom
  fi
}
restic -r "$work/restic" init >/dev/null
"$REPO_BIN" -r "$work/repo" init >/dev/null
gen | restic -r "$work/restic" backup --quiet --stdin --stdin-filename big.bin
gen | "$REPO_BIN" -r "$work/repo" snapshot --no-progress --stdin --stdin-filename big.bin >/dev/null
expect=$((size_gb << 30))

# Warm the page cache and check both give back every byte.
for tool in restic repo; do
  if [[ $tool == restic ]]; then got=$(restic -r "$work/restic" dump latest /big.bin | wc -c)
  else got=$("$REPO_BIN" -r "$work/repo" dump latest big.bin | wc -c); fi
  [[ $got == "$expect" ]] || { echo "dump_compare.sh: $tool dumped $got bytes, not $expect" >&2; exit 1; }
done

secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f\n", e - s}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
: >"$work/restic.times"; : >"$work/repo.times"
for ((i = 1; i <= runs; i++)); do
  log "run $i of $runs"
  secs restic -r "$work/restic" dump latest /big.bin >>"$work/restic.times"
  secs "$REPO_BIN" -r "$work/repo" dump latest big.bin >>"$work/repo.times"
done
r=$(median <"$work/restic.times"); p=$(median <"$work/repo.times")
mbs() { awk -v b="$expect" -v t="$1" 'BEGIN {print b / t / 1048576}'; }
ratio=$(awk -v r="$r" -v p="$p" 'BEGIN {print r / p}')
printf '\ndump of a %d GiB incompressible file to /dev/null, median of %d runs (%s, %d cores)\n' \
  "$size_gb" "$runs" "$(restic version | head -n1 | cut -d' ' -f1-2)" "$(nproc)"
printf '  %-7s %7.2f s  %7.0f MiB/s   runs: %s\n' restic "$r" "$(mbs "$r")" "$(tr '\n' ' ' <"$work/restic.times")"
printf '  %-7s %7.2f s  %7.0f MiB/s   runs: %s\n' repo "$p" "$(mbs "$p")" "$(tr '\n' ' ' <"$work/repo.times")"
verdict=$(awk -v x="$ratio" 'BEGIN {print (x >= 2) ? 1 : 0}')
printf '  repo / restic throughput: %.2fx   target >= 2.00x: %s\n' "$ratio" \
  "$([[ $verdict == 1 ]] && echo MET || echo 'NOT MET')"
