#!/bin/bash
# `repo mount` against its targets (issue 17; docs/perf.md, "Mount"), each measured in this run:
#
#  1. sequential: `cat` of a large incompressible file (default 4 GiB) through the mount against
#     `repo dump` of the same file, both to /dev/null, alternating, median of --runs each (a
#     fresh mount per run: no page cache of an earlier one). Target: mount >= 80% of dump.
#  2. seek: a 1 MiB read (dd) near the end of a 16 GiB file (--big-gb) and one near its start,
#     each in a fresh mount: the bytes the mount process read (/proc/PID/io rchar: packs, index,
#     everything) and the time of each, medians. Target: only the chunks around the offset (a
#     few MiB at most, not the file), and near the end about as fast as near the start.
#  3. tree: `ls -lR` of a 70,000-file snapshot through the mount and `cp` of one file out of it,
#     against `restic mount` of the same tree (Debian's restic), median of --runs; the mount's
#     peak RSS (VmHWM). Target: at least 5x faster than restic, peak RSS <= 200 MB.
#  4. wide: `ls -lR` of a snapshot whose one directory holds 1,000,000 files: the mount's peak
#     RSS. Target: <= 200 MB.
#
# Usage: bash bench/mount_bench.sh [--only seq|seek|tree|wide]... [--size-gb 4] [--big-gb 16]
#                                  [--files 70000] [--wide 1000000] [--runs 5]
# Environment: REPO_BIN (default build/cli/repo). Needs root (FUSE, restic's mount), /dev/fuse,
# GNU time, python3; installs restic (apt-get) if missing. At the defaults about 25 GiB free
# under /tmp and 20-30 minutes; everything is removed (and unmounted) on exit.
set -euo pipefail
size_gb=4
big_gb=16
files=70000
wide=1000000
runs=5
only=()
while (($#)); do
  case $1 in
    --only) only+=("$2"); shift 2 ;;
    --size-gb) size_gb=$2; shift 2 ;;
    --big-gb) big_gb=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --wide) wide=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "mount_bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
((${#only[@]})) || only=(seq seek tree wide)
wants() { [[ " ${only[*]} " == *" $1 "* ]]; }
repo_root=$(cd "$(dirname "$0")/.." && pwd)
REPO_BIN=$(realpath "${REPO_BIN:-$repo_root/build/cli/repo}")
[[ -x $REPO_BIN ]] || { echo "mount_bench.sh: no repo binary at $REPO_BIN (build first)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "mount_bench.sh: run as root (FUSE mounts)" >&2; exit 1; }
[[ -c /dev/fuse ]] || { echo "mount_bench.sh: /dev/fuse is missing" >&2; exit 1; }
if ! command -v restic >/dev/null; then apt-get install -y -qq restic >/dev/null; fi
log() { printf '== %s %s\n' "$(date +%T)" "$*" >&2; }

work=$(mktemp -d /tmp/mount-bench.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
mount_pid=
cleanup() {
  [[ -z $mount_pid ]] || kill "$mount_pid" 2>/dev/null || true
  fusermount3 -u -z "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "mount_bench.sh: failed at line $LINENO" >&2' ERR
printf 'mount-bench-password\n' >"$work/password"
export RESTIC_PASSWORD_FILE=$work/password RESTIC_CACHE_DIR=$work/restic-cache
export REPO_PASSWORD_FILE=$work/password REPO_CACHE_DIR=$work/repo-cache
unset RESTIC_REPOSITORY REPO_REPOSITORY

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now() { date +%s.%N; }
# Incompressible bytes, cheap to make: AES-CTR output of openssl, else /dev/urandom.
gen() {  # gen GIB
  if command -v openssl >/dev/null; then
    # openssl ends on SIGPIPE once head has its bytes: not a failure.
    (set +o pipefail; openssl enc -aes-128-ctr -nosalt -pass pass:mount-bench -in /dev/zero \
      2>/dev/null | head -c "$(($1 << 30))")
  else
    head -c "$(($1 << 30))" /dev/urandom
  fi
}
mounted() { [[ $(stat -c %d "$mnt" 2>/dev/null) != $(stat -c %d "$work") ]]; }
# mount_repo REPO [options]: `repo mount` in the background until it serves; sets mount_pid.
mount_repo() {
  local repo=$1; shift
  "$REPO_BIN" -r "$repo" mount "$mnt" -q "$@" 2>"$work/mount.err" &
  mount_pid=$!
  for _ in $(seq 600); do mounted && [[ -e $mnt/snapshots/latest ]] && return 0; sleep 0.05; done
  cat "$work/mount.err" >&2
  echo "mount_bench.sh: repo mount did not come up" >&2
  exit 1
}
mount_restic() {
  restic -r "$1" mount "$mnt" >"$work/mount.err" 2>&1 &
  mount_pid=$!
  for _ in $(seq 1200); do mounted && [[ -e $mnt/snapshots/latest ]] && return 0; sleep 0.05; done
  cat "$work/mount.err" >&2
  echo "mount_bench.sh: restic mount did not come up" >&2
  exit 1
}
unmount() {  # unmounts and waits for the mount process to end
  fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
  wait "$mount_pid" 2>/dev/null || true
  mount_pid=
}
peak_mib() { awk '/^VmHWM/ { printf "%d\n", $2 / 1024 }' "/proc/$mount_pid/status"; }
rchar() { awk '/^rchar/ { print $2 }' "/proc/$mount_pid/io"; }
verdict() { if [[ $(echo "$1" | bc -l) == 1 ]]; then echo met; else echo "NOT met"; fi; }

echo "mount_bench: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

if wants seq; then
  repo=$work/seq-repo
  "$REPO_BIN" -r "$repo" init --kdf-memory-kib 8192 --kdf-iterations 1 >/dev/null
  log "storing a ${size_gb} GiB incompressible file"
  gen "$size_gb" | "$REPO_BIN" -r "$repo" snapshot --stdin --stdin-filename big.bin -q
  cat "$repo"/data/*/* >/dev/null  # the packs in the page cache, as for both below
  : >"$work/dump.t"
  : >"$work/mount.t"
  for ((i = 0; i < runs; i++)); do
    t0=$(now)
    "$REPO_BIN" -r "$repo" dump latest big.bin >/dev/null
    echo "$(now) - $t0" | bc >>"$work/dump.t"
    mount_repo "$repo"
    t0=$(now)
    cat "$mnt/snapshots/latest/big.bin" >/dev/null
    echo "$(now) - $t0" | bc >>"$work/mount.t"
    unmount
  done
  d=$(median <"$work/dump.t")
  m=$(median <"$work/mount.t")
  bytes=$((size_gb << 30))
  printf 'sequential %d GiB: repo dump %.2f s (%.0f MB/s), cat through the mount %.2f s (%.0f MB/s): mount = %.0f%% of dump (target >= 80%%: %s); runs: dump %s / mount %s\n' \
    "$size_gb" "$d" "$(echo "$bytes / $d / 1000000" | bc -l)" "$m" \
    "$(echo "$bytes / $m / 1000000" | bc -l)" "$(echo "100 * $d / $m" | bc -l)" \
    "$(verdict "$d / $m >= 0.8")" "$(tr '\n' ' ' <"$work/dump.t")" "$(tr '\n' ' ' <"$work/mount.t")"
  rm -rf "$repo"
fi

if wants seek; then
  repo=$work/seek-repo
  "$REPO_BIN" -r "$repo" init --kdf-memory-kib 8192 --kdf-iterations 1 >/dev/null
  log "storing a ${big_gb} GiB incompressible file"
  gen "$big_gb" | "$REPO_BIN" -r "$repo" snapshot --stdin --stdin-filename big.bin -q
  : >"$work/end.t"; : >"$work/start.t"; : >"$work/end.b"; : >"$work/start.b"
  for ((i = 0; i < runs; i++)); do
    for where in end start; do
      if [[ $where == end ]]; then skip=$(((big_gb << 10) - 5 - i)); else skip=$((3 + i)); fi
      mount_repo "$repo"
      stat "$mnt/snapshots/latest/big.bin" >/dev/null  # the lookups, outside the measure
      r0=$(rchar)
      t0=$(now)
      dd if="$mnt/snapshots/latest/big.bin" of=/dev/null bs=1M count=1 skip="$skip" status=none
      echo "$(now) - $t0" | bc >>"$work/$where.t"
      echo $(($(rchar) - r0)) >>"$work/$where.b"
      unmount
    done
  done
  te=$(median <"$work/end.t"); ts=$(median <"$work/start.t")
  be=$(median <"$work/end.b"); bs=$(median <"$work/start.b")
  printf 'seek in a %d GiB file: 1 MiB near the end read %.2f MiB in %.1f ms; near the start %.2f MiB in %.1f ms (target: only nearby chunks, <= 4 MiB: %s; end within 2x of start: %s)\n' \
    "$big_gb" "$(echo "$be / 1048576" | bc -l)" "$(echo "$te * 1000" | bc -l)" \
    "$(echo "$bs / 1048576" | bc -l)" "$(echo "$ts * 1000" | bc -l)" \
    "$(verdict "$be <= 4 * 1048576")" "$(verdict "$te <= 2 * $ts")"
  rm -rf "$repo"
fi

if wants tree; then
  src=$work/tree
  log "making a tree of $files files"
  python3 - "$src" "$files" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(17)
for i in range(n):
    d = os.path.join(root, 'd%03d' % (i // 1000), 'e%02d' % (i // 100 % 10))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'file%06d.txt' % i), 'wb') as f:
        f.write(rng.randbytes(rng.randint(100, 8000)))
PY
  one=d042/e05/file042500.txt
  repo=$work/tree-repo restic_repo=$work/tree-restic
  "$REPO_BIN" -r "$repo" init --kdf-memory-kib 8192 --kdf-iterations 1 >/dev/null
  "$REPO_BIN" -r "$repo" snapshot "$src" -q
  restic -r "$restic_repo" init -q
  restic -r "$restic_repo" backup -q "$src" >/dev/null
  : >"$work/repo.t"; : >"$work/restic.t"; : >"$work/repo.rss"; : >"$work/restic.rss"
  for ((i = 0; i < runs; i++)); do
    for tool in repo restic; do
      if [[ $tool == repo ]]; then mount_repo "$repo"; else mount_restic "$restic_repo"; fi
      t0=$(now)
      lines=$(ls -lR "$mnt/snapshots/latest$src" | wc -l)
      cp "$mnt/snapshots/latest$src/$one" "$work/copy"
      echo "$(now) - $t0" | bc >>"$work/$tool.t"
      cmp -s "$work/copy" "$src/$one" || { echo "mount_bench.sh: $tool: the copied file differs" >&2; exit 1; }
      ((lines > files)) || { echo "mount_bench.sh: $tool: ls -lR listed only $lines lines" >&2; exit 1; }
      peak_mib >>"$work/$tool.rss"
      unmount
    done
  done
  r=$(median <"$work/repo.t"); s=$(median <"$work/restic.t")
  rr=$(sort -n "$work/repo.rss" | tail -1); sr=$(sort -n "$work/restic.rss" | tail -1)
  printf 'tree of %d files, ls -lR + cp of one file: repo mount %.2f s (peak RSS %d MiB), restic mount %.2f s (peak RSS %d MiB): %.1fx faster (target >= 5x: %s), peak RSS target <= 200 MB: %s\n' \
    "$files" "$r" "$rr" "$s" "$sr" "$(echo "$s / $r" | bc -l)" "$(verdict "$s / $r >= 5")" \
    "$(verdict "$rr * 1048576 <= 200000000")"
  rm -rf "$repo" "$restic_repo" "$src"
fi

if wants wide; then
  src=$work/wide
  log "making one directory of $wide files"
  python3 - "$src/d" "$wide" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d)
for i in range(n):
    os.close(os.open('%s/entry-%018d' % (d, i), os.O_CREAT | os.O_WRONLY, 0o644))
PY
  repo=$work/wide-repo
  "$REPO_BIN" -r "$repo" init --kdf-memory-kib 8192 --kdf-iterations 1 >/dev/null
  "$REPO_BIN" -r "$repo" snapshot "$src" -q
  mount_repo "$repo"
  t0=$(now)
  lines=$(ls -lR "$mnt/snapshots/latest$src" | wc -l)
  t=$(echo "$(now) - $t0" | bc)
  rss=$(peak_mib)
  unmount
  ((lines > wide)) || { echo "mount_bench.sh: ls -lR listed only $lines lines" >&2; exit 1; }
  printf 'one directory of %d files, ls -lR through the mount: %.1f s, mount peak RSS %d MiB (target <= 200 MB: %s)\n' \
    "$wide" "$t" "$rss" "$(verdict "$rss * 1048576 <= 200000000")"
fi
