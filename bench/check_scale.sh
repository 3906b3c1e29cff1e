#!/bin/bash
# `repo check` memory and time against repository size (issue 16: "memory bounded at 50 M
# blobs"). bench/check_fill (build-bench or build) fills a fresh repository with N million real
# 16-byte data blobs (sealed, packed and indexed as a snapshot stores them) and one snapshot of
# 1,000 files whose content lists refer to all of them. Then, each under GNU time: `repo check`
# (structure: every index file, pack header and content reference) with the cache the fill left,
# the same with a fresh cache (which first merges every index file: a cold rebuild), and
# `repo check --read-data` (every blob opened and re-hashed). Printed: seconds and peak RSS of
# each, beside the target: peak RSS <= 200 MB at 50 M blobs (the bound issue 15 set for every
# command), met or not; and that each check found no error.
#
# Usage: bash bench/check_scale.sh [--mblobs 50] [--no-read-data] [--no-fresh-cache]
# Environment: REPO_BIN (default build/cli/repo), FILL_BIN (default build/bench/check_fill).
# At 50 M blobs: about 20 GiB under /tmp (checked first) and 20-40 minutes; removed on exit.
set -euo pipefail
mblobs=50
read_data=1
fresh=1
while (($#)); do
  case $1 in
    --mblobs) mblobs=$2; shift 2 ;;
    --no-read-data) read_data=0; shift ;;
    --no-fresh-cache) fresh=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "check_scale.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
repo_root=$(cd "$(dirname "$0")/.." && pwd)
REPO_BIN=$(realpath "${REPO_BIN:-$repo_root/build/cli/repo}")
FILL_BIN=$(realpath "${FILL_BIN:-$repo_root/build/bench/check_fill}")
for b in "$REPO_BIN" "$FILL_BIN"; do
  [[ -x $b ]] || { echo "check_scale.sh: no binary at $b (build first)" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "check_scale.sh: needs GNU time (apt-get install time)" >&2; exit 1; }
# Per blob: ~170 bytes of packs and index files, ~85 in each of two caches, 32 in the check's
# sorted runs (TMPDIR).
need_mib=$(awk -v m="$mblobs" 'BEGIN { printf "%d", m * 400 }')
free_mib=$(df -Pm /tmp | awk 'NR == 2 { print $4 }')
((free_mib > need_mib)) || { echo "check_scale.sh: needs ${need_mib} MiB free under /tmp" >&2; exit 1; }
work=$(mktemp -d /tmp/check-scale.XXXXXX)
trap 'rm -rf "$work"' EXIT
repo=$work/repo
echo pw > "$work/pw"
export REPO_PASSWORD_FILE=$work/pw
"$REPO_BIN" -r "$repo" --cache-dir "$work/cache" init --kdf-memory-kib 8192 --kdf-iterations 1 >/dev/null

timed() {  # timed NAME COMMAND...: runs it; prints seconds, peak RSS and its verdict
  local name=$1; shift
  local rc=0
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/out" 2>&1 || rc=$?
  read -r secs kib < <(tail -1 "$work/time")
  local mib=$((kib / 1024))
  local verdict="met"; ((mib <= 200)) || verdict="NOT met"
  printf '%-34s %8.1f s  peak RSS %5d MiB (target <= 200 MiB: %s)  exit %d\n' \
    "$name" "$secs" "$mib" "$verdict" "$rc"
  if ((rc != 0)); then sed 's/^/    /' "$work/out" | head -20; fi
}

echo "check_scale: filling ${mblobs} M blobs ..."
/usr/bin/time -f '%e %M' -o "$work/time" "$FILL_BIN" "$repo" "$work/pw" "$work/cache" "$mblobs"
read -r secs kib < <(tail -1 "$work/time")
echo "fill: $secs s, peak RSS $((kib / 1024)) MiB; repository $(du -sh "$repo" | cut -f1), cache $(du -sh "$work/cache" | cut -f1)"
echo "== repo check at ${mblobs} M blobs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
timed "check (warm cache)" "$REPO_BIN" -r "$repo" --cache-dir "$work/cache" check --no-progress
if ((fresh)); then
  timed "check (fresh cache: merges all)" "$REPO_BIN" -r "$repo" --cache-dir "$work/cache2" check --no-progress
fi
if ((read_data)); then
  timed "check --read-data" "$REPO_BIN" -r "$repo" --cache-dir "$work/cache" check --read-data --no-progress
fi
grep -h "checked\|read \|error" "$work/out" | head -5 || true
