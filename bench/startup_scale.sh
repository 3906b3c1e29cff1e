#!/bin/bash
# Start-up against repository history (issue 15, "Index files"; docs/perf.md, "Start-up"): how
# long a command takes to start in a repository of 100,000 index files and 10,000 snapshots, as
# years of wal-push (one index file per WAL segment) and nightly snapshots leave it, against the
# same commands in a repository of one snapshot. Measured (median of 5 runs each):
#   * `repo snapshots` with the local snapshot cache cold (every record read) and warm;
#   * a no-op `repo snapshot` of a 10-file directory (its parent found among 10,000 snapshots),
#     with the index cache up to date, after 10 new index files (merging only those), and cold
#     (the cache rebuilt from all 100,000 index files: per index file);
# each beside the one-snapshot repository's figure. Start-up should cost O(new index files and
# records): a warm start near the small repository's, whatever the history.
#
# Usage: bash bench/startup_scale.sh [--index-files 100000] [--snapshots 10000]
# Environment: REPO_BIN (default build/cli/repo), FILL_BIN (default build/bench/startup_fill).
set -euo pipefail
index_files=100000
snapshots=10000
while (($#)); do
  case $1 in
    --index-files) index_files=$2; shift 2 ;;
    --snapshots) snapshots=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "startup_scale.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
repo_root=$(cd "$(dirname "$0")/.." && pwd)
REPO_BIN=$(realpath "${REPO_BIN:-$repo_root/build/cli/repo}")
FILL_BIN=$(realpath "${FILL_BIN:-$repo_root/build/bench/startup_fill}")
for b in "$REPO_BIN" "$FILL_BIN"; do
  [[ -x $b ]] || { echo "startup_scale.sh: no binary at $b (build first)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/startup-scale.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'startup-bench\n' >"$work/password"
export REPO_PASSWORD_FILE=$work/password REPO_CACHE_DIR=$work/cache
unset REPO_REPOSITORY
mkdir -p "$work/src"
for i in $(seq 1 10); do echo "file $i" >"$work/src/f$i"; done

now() { date +%s.%N; }
# median_of N COMMAND...: runs it N times (output discarded), prints the median seconds.
median_of() {
  local n=$1; shift
  local times=()
  for _ in $(seq 1 "$n"); do
    local t0; t0=$(now)
    "$@" >/dev/null
    times+=("$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.4f", b - a }')")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
once() { median_of 1 "$@"; }
make_repo() {  # make_repo DIR: a repository with one snapshot of src; prints its id
  "$REPO_BIN" -r "$1" --json init --kdf-memory-kib 8192 --kdf-iterations 1 |
    sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p'
  "$REPO_BIN" -r "$1" snapshot --no-progress "$work/src" >/dev/null
}

small_id=$(make_repo "$work/small")
big_id=$(make_repo "$work/big")
t0=$(now)
"$FILL_BIN" "$work/big" "$work/password" "$work/cache" "$index_files" "$snapshots"
fill_s=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')

R() { "$REPO_BIN" -r "$@"; }
small_snapshots=$(median_of 5 R "$work/small" snapshots)
small_noop=$(median_of 5 R "$work/small" snapshot --no-progress "$work/src")
rm -f "$work/cache/$big_id/snapshots"
big_snapshots_cold=$(once R "$work/big" snapshots)
big_snapshots=$(median_of 5 R "$work/big" snapshots)
rm -rf "$work/cache/$big_id/index"
big_noop_cold=$(once R "$work/big" snapshot --no-progress "$work/src")
big_noop=$(median_of 5 R "$work/big" snapshot --no-progress "$work/src")
"$FILL_BIN" "$work/big" "$work/password" "$work/cache" 10 0
big_noop_new=$(once R "$work/big" snapshot --no-progress "$work/src")
listed=$(ls "$work/big/index" | wc -l)
records=$(ls "$work/big/snapshots" | wc -l)

printf '\nstart-up, %s, 2 cores\n' "$("$REPO_BIN" version | head -1)"
printf '  history: %d index files, %d snapshots (filled in %s s)\n\n' "$listed" "$records" "$fill_s"
printf '  %-44s %10s %10s %8s\n' command "1 snapshot" history ratio
row() { printf '  %-44s %9.3fs %9.3fs %7.1fx\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN { print b / a }')"; }
row "snapshots, snapshot cache cold" "$small_snapshots" "$big_snapshots_cold"
row "snapshots, warm" "$small_snapshots" "$big_snapshots"
row "no-op snapshot, warm" "$small_noop" "$big_noop"
row "no-op snapshot, 10 new index files" "$small_noop" "$big_noop_new"
row "no-op snapshot, index cache cold (rebuild)" "$small_noop" "$big_noop_cold"
awk -v c="$big_noop_cold" -v w="$big_noop" -v n="$listed" \
  'BEGIN { printf "\n  cold index cache rebuild: %.1f s per 100,000 index files (%.1f us each)\n", (c - w) * 100000 / n, (c - w) * 1e6 / n }'
awk -v w="$big_noop" -v s="$small_noop" -v x="$big_snapshots" -v y="$small_snapshots" 'BEGIN {
  printf "  warm start with the history: +%.3f s (no-op snapshot), +%.3f s (snapshots) over one snapshot\n", w - s, x - y }'
