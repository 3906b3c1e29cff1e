#!/bin/bash
# Memory against directory size (issue 15, "Tree format v2"; docs/perf.md, "Memory against
# directory size"): one directory of N empty files (default 100,000 and 1,000,000; names of 24
# characters), snapshotted, then changed (1% of the files removed, as many added between the
# others, 1% touched) and snapshotted again against its parent; then `ls --recursive`, `find`,
# `diff` of the two snapshots, `stats`, and `restore` of the second. Prints each command's peak
# RSS (GNU time's %M) and seconds per size, and the growth from the smallest to the largest size
# beside the target: memory flat in directory size, i.e. within 40 MiB (the snapshot walk sorts
# a directory's names 4 MiB at a time and spills larger ones to $TMPDIR: repo/archiver/dir_listing.h).
#
# Usage: bash bench/dir_scale.sh [--sizes "100000 1000000"]
# Environment: REPO_BIN (default build/cli/repo). Needs python3 and GNU time; about 10 minutes
# and 2 GiB free under /tmp at the defaults; everything is removed on exit.
set -euo pipefail
sizes="100000 1000000"
while (($#)); do
  case $1 in
    --sizes) sizes=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "dir_scale.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
repo_root=$(cd "$(dirname "$0")/.." && pwd)
REPO_BIN=$(realpath "${REPO_BIN:-$repo_root/build/cli/repo}")
[[ -x $REPO_BIN ]] || { echo "dir_scale.sh: no repo binary at $REPO_BIN (build first)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "dir_scale.sh: needs GNU time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d /tmp/dir-scale.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'dir-bench\n' >"$work/password"
export REPO_PASSWORD_FILE=$work/password REPO_CACHE_DIR=$work/cache
unset REPO_REPOSITORY

cmds=(snapshot resnapshot ls find diff stats restore)
declare -A rss secs
measure() {  # measure NAME SIZE COMMAND...: runs it, output discarded; records RSS and seconds
  local name=$1 n=$2; shift 2
  /usr/bin/time -f '%M %e' -o "$work/time" "$@" >/dev/null
  read -r kib s < <(tail -1 "$work/time")
  rss[$name,$n]=$((kib / 1024))
  secs[$name,$n]=$s
}
for n in $sizes; do
  repo=$work/repo-$n src=$work/src-$n
  "$REPO_BIN" -r "$repo" init --kdf-memory-kib 8192 --kdf-iterations 1 >/dev/null
  python3 - "$src/d" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d)
for i in range(0, 2 * n, 2):
    os.close(os.open('%s/entry-%018d' % (d, i), os.O_CREAT | os.O_WRONLY, 0o644))
PY
  measure snapshot "$n" "$REPO_BIN" -r "$repo" snapshot --no-progress "$src"
  python3 - "$src/d" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
step = 100
for i in range(0, 2 * n, 2 * step):
    os.unlink('%s/entry-%018d' % (d, i))                      # 1% removed
    os.close(os.open('%s/entry-%018d' % (d, i + 1), os.O_CREAT | os.O_WRONLY, 0o644))  # 1% added
    os.utime('%s/entry-%018d' % (d, i + 2 * (step // 2)), (1, 1))  # 1% touched
PY
  measure resnapshot "$n" "$REPO_BIN" -r "$repo" snapshot --no-progress "$src"
  ids=($("$REPO_BIN" -r "$repo" snapshots --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4))
  measure ls "$n" "$REPO_BIN" -r "$repo" ls latest --recursive
  measure find "$n" "$REPO_BIN" -r "$repo" find 'entry-000000000000000001'
  measure diff "$n" "$REPO_BIN" -r "$repo" diff "${ids[0]}" "${ids[1]}"
  measure stats "$n" "$REPO_BIN" -r "$repo" stats
  measure restore "$n" "$REPO_BIN" -r "$repo" restore latest --target "$work/out-$n"
  rm -rf "$work/out-$n" "$src" "$repo"
done

read -r -a list <<<"$sizes"
lo=${list[0]} hi=${list[-1]}
printf '\npeak RSS (MiB) and seconds against directory size, %s, 2 cores\n' \
  "$("$REPO_BIN" version | head -1)"
printf '  %-11s' entries
for c in "${cmds[@]}"; do printf ' %12s' "$c"; done
printf '\n'
for n in $sizes; do
  printf '  %-11s' "$n"
  for c in "${cmds[@]}"; do printf ' %6s %4.0fs' "${rss[$c,$n]}" "${secs[$c,$n]}"; done
  printf '\n'
done
verdict=MET
for c in "${cmds[@]}"; do
  grow=$((rss[$c,$hi] - rss[$c,$lo]))
  ok=MET
  ((grow <= 40)) || { ok="NOT MET"; verdict="NOT MET"; }
  printf '  %-10s %8s -> %8s entries: %+5d MiB   target: within 40 MiB: %s\n' \
    "$c" "$lo" "$hi" "$grow" "$ok"
done
echo "  memory flat in directory size: $verdict"
