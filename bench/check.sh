#!/bin/bash
# Compares `repo check` with Debian's restic `restic check` on the same data in one run (issue
# 16): the structure pass (`check`) and the full read (`check --read-data`), each tool on a
# repository of its own holding several similar snapshots of ~2 GB of real files copied from /usr
# (N snapshots per tool; before each one after the first, a line is appended to every 100th file,
# the same ~1% each time and for both tools, as a nightly job would see). Every check runs once
# first as a warm-up, not counted, then --runs times under `/usr/bin/time -v`, interleaved (repo,
# restic, repo, restic, ...); the medians of wall time and peak RSS are printed beside the targets,
# met or not: `check` >= 3x restic's speed, `check --read-data` >= 2x. Peak RSS is only reported
# (the issue asks for bounded memory, with no figure). Both tools run with their defaults: restic's
# `check` makes a fresh temporary cache each time (no --with-cache).
#
# Usage: bash bench/check.sh [--size-gb N] [--runs N] [--snapshots N] [--keep-log DIR]
#   --size-gb N     size of the file tree (default 2)
#   --runs N        timed runs of each check per tool; medians are reported (default 3)
#   --snapshots N   snapshots of the tree per tool (default 3)
#   --keep-log DIR  copy the raw measurements (results.tsv, tool output) to DIR
# Environment: REPO_BIN (a built `repo` with `check --read-data`; default: build it in
# build-bench/).
#
# Run as root or with sudo (it installs restic and time with apt-get when missing). Needs about 4 x
# the tree size free under /tmp: the tree and a repository per tool, in one scratch directory that
# is removed on exit. Before each command dirty pages are flushed and the tool's repository and
# cache are read into the page cache again (as in compare.sh: this kernel drops page cache left
# untouched for about a minute), so the figures are of CPU and page cache, not of the disk. Takes
# about 10 minutes at the defaults on 2 cores. Not part of the test suite.
set -euo pipefail

size_gb=2
runs=3
snapshots=3
keep_log=
while (($#)); do
  case $1 in
    --size-gb) size_gb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --snapshots) snapshots=$2; shift 2 ;;
    --keep-log) keep_log=$(realpath -m "$2"); shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $size_gb =~ ^[0-9]*\.?[0-9]+$ && $runs =~ ^[1-9][0-9]*$ && $snapshots =~ ^[1-9][0-9]*$ ]] \
  || { echo "check.sh: --size-gb, --runs and --snapshots take positive numbers" >&2; exit 2; }

repo_root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '== %s %s\n' "$(date +%T)" "$*" >&2; }

# --- packages and binaries ----------------------------------------------------------------
need=()
command -v restic >/dev/null || need+=(restic)
[[ -x /usr/bin/time ]] || need+=(time)
if ((${#need[@]})); then
  log "apt-get install -y ${need[*]}"
  if [[ $(id -u) == 0 ]]; then apt-get install -y "${need[@]}" >/dev/null
  else sudo apt-get install -y "${need[@]}" >/dev/null; fi
fi

repro=  # the REPO_BIN part of the command line that reproduces the run
if [[ -z ${REPO_BIN:-} ]]; then
  log "building repo in build-bench/"
  cmake -S "$repo_root" -B "$repo_root/build-bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DREPO_TESTS=OFF >/dev/null
  cmake --build "$repo_root/build-bench" -j2 --target repo >/dev/null
  REPO_BIN=$repo_root/build-bench/cli/repo
else
  repro="REPO_BIN=$(printf %q "$(realpath "$REPO_BIN")") "
fi
REPO_BIN=$(realpath "$REPO_BIN")
[[ -x $REPO_BIN ]] || { echo "check.sh: no repo binary at $REPO_BIN" >&2; exit 1; }
"$REPO_BIN" check --help 2>/dev/null | grep -q -- --read-data \
  || { echo "check.sh: $REPO_BIN has no 'check --read-data' (an older build?)" >&2; exit 1; }

# --- scratch directory, cleanup ------------------------------------------------------------
work=$(mktemp -d /tmp/repo-check.XXXXXX)
cleanup() {
  if [[ -n $keep_log && -f $work/results.tsv ]] && mkdir -p "$keep_log"; then
    cp "$work"/results.tsv "$work"/*.log "$work"/*.time "$keep_log"/ 2>/dev/null || true
  fi
  log "removing $work"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

results=$work/results.tsv
: >"$results"
rec() { printf '%s\t%s\n' "$1" "$2" >>"$results"; }  # key, value
val() { awk -F'\t' -v k="$1" '$1==k {v=$2} END {print v}' "$results"; }
dsize() { du -sb "$1" | cut -f1; }

# Reads every byte under the given paths into the page cache (GNU tar skips reading when the
# archive is /dev/null itself, hence the pipe).
warm() { tar -cf - "$@" 2>/dev/null | cat >/dev/null || true; }

# Runs a command under /usr/bin/time -v (output to <tool>.<op>.log, figures to .time) after
# flushing dirty pages and reading the paths in $hot again; a non-zero exit fails the benchmark.
hot=()
run() {
  local tool=$1 op=$2 rc=0; shift 2
  sync
  ((${#hot[@]})) && warm "${hot[@]}"
  /usr/bin/time -v -o "$work/$tool.$op.time" "$@" >"$work/$tool.$op.log" 2>&1 || rc=$?
  ((rc == 0)) && return 0
  echo "check.sh: $tool $op failed (exit $rc): $*" >&2
  tail -n 100 "$work/$tool.$op.log" >&2
  exit 1
}
# Run N of a check; from N = 1 on, its wall (s) and peak RSS (KiB) are recorded as
# "<tool>.<op><N>.wall" and ".rss_kb" (run 0 is the warm-up, not counted).
timed() {
  local tool=$1 op=$2$3 n=$3; shift 3
  run "$tool" "$op" "$@"
  ((n)) || return 0
  awk -F': ' -v k="$tool.$op" '
    /Elapsed \(wall clock\)/ {n = split($2, p, ":"); for (i = 1; i <= n; i++) w = w * 60 + p[i]}
    /Maximum resident set size/ {rss = $2}
    END {printf "%s.wall\t%.2f\n%s.rss_kb\t%d\n", k, w, k, rss}' "$work/$tool.$op.time" \
    >>"$results"
  log "$tool $op: $(val "$tool.$op.wall")s, $(($(val "$tool.$op.rss_kb") / 1024)) MiB"
}

# --- the file tree (as in compare.sh) -------------------------------------------------------
# Top-level entries of these directories in name order, until the tree reaches the size: the
# defaults give all of /usr/share and /usr/include and part of /usr/lib/x86_64-linux-gnu.
target_bytes=$(awk -v g="$size_gb" 'BEGIN {printf "%.0f", g * 1e9}')
src=$work/src
total=0 last=
log "copying ~${size_gb} GB of /usr into $src"
for root in /usr/share /usr/include /usr/lib/x86_64-linux-gnu /usr/lib /usr/bin; do
  [[ -d $root ]] || continue
  dst=$src/${root#/usr/}
  mkdir -p "$dst"
  while IFS= read -r -d '' entry; do
    ((total >= target_bytes)) && break 2
    name=${entry##*/}
    [[ $root == /usr/lib && $name == x86_64-linux-gnu ]] && continue
    [[ -e $dst/$name || -L $dst/$name ]] && continue
    cp -a "$entry" "$dst/" 2>/dev/null || true
    last=$entry
    total=$((total + $(du -sb "$dst/$name" 2>/dev/null | cut -f1 || echo 0)))
  done < <(find "$root" -mindepth 1 -maxdepth 1 -print0 | sort -z)
done
# Regular files, directories and symlinks only (no sockets or fifos).
find "$src" ! -type f ! -type d ! -type l -delete
# The files changed between snapshots: every 100th regular file in name order, made writable
# now, before any snapshot.
mapfile -d '' files < <(find "$src" -type f -print0 | sort -z)
touched=()
for ((i = 0; i < ${#files[@]}; i += 100)); do touched+=("${files[i]}"); done
((${#touched[@]})) && chmod u+w "${touched[@]}"
rec tree.du_bytes "$(dsize "$src")"
rec tree.files "${#files[@]}"
rec tree.dirs "$(find "$src" -type d | wc -l)"

# --- repositories: one environment per tool, caches fresh and inside the scratch dir --------
printf 'check-bench-password\n' >"$work/password"
export RESTIC_PASSWORD_FILE=$work/password RESTIC_CACHE_DIR=$work/restic-cache
export REPO_PASSWORD_FILE=$work/password REPO_CACHE_DIR=$work/repo-cache
unset RESTIC_REPOSITORY REPO_REPOSITORY
rrepo=$work/restic-repo prepo=$work/repo-repo
restic -r "$rrepo" init >/dev/null
"$REPO_BIN" -r "$prepo" init >/dev/null
log "$snapshots snapshots per tool"
for ((s = 1; s <= snapshots; s++)); do
  ((s > 1)) && for f in "${touched[@]}"; do printf 'check.sh: snapshot %d\n' "$s" >>"$f"; done
  run restic "snapshot$s" restic -r "$rrepo" backup --quiet "$src"
  run repo "snapshot$s" "$REPO_BIN" -r "$prepo" snapshot --no-progress "$src"
done
sync
rec restic.repo_bytes "$(dsize "$rrepo")"
rec repo.repo_bytes "$(dsize "$prepo")"

# --- the checks: each with its repository and cache freshly read; run 0 is the warm-up ------
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ((n = 0; n <= runs; n++)); do
  log "run $n of $runs$( ((n)) || echo ' (warm-up, not counted)')"
  for op in check read; do
    extra=(); [[ $op == read ]] && extra=(--read-data)
    hot=("$prepo" "$work/repo-cache")
    timed repo "$op" "$n" "$REPO_BIN" -r "$prepo" check "${extra[@]}"
    hot=("$rrepo" "$work/restic-cache")
    timed restic "$op" "$n" restic -r "$rrepo" check "${extra[@]}"
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -------------------------------------------------------------------------------
# med TOOL OP FIELD: the median over the runs (mean of the middle two for an even count).
med() { for ((n = 1; n <= runs; n++)); do val "$1.$2$n.$3"; done | sort -g \
  | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
all() { for ((n = 1; n <= runs; n++)); do val "$1.$2$n.wall"; done | paste -sd/ | sed 's|/| / |g'; }
div() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN {printf f, (b > 0 ? a / b : 0)}'; }  # A B FORMAT
line() { printf '%-34s  %7s  %7s  %14s  %-20s  %s\n' "$@" | sed 's/ *$//'; }
rev=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo_root" diff --quiet HEAD 2>/dev/null || rev+=" (working tree modified)"
echo
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc)" \
  "cores, $(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo) GiB;" \
  "load at start $load_start, at end $load_end"
echo "Versions: $(restic version | head -n1); $("$REPO_BIN" version) at $rev ($REPO_BIN)"
echo "Tree: $(div "$(val tree.du_bytes)" 1e6 %.0f) MB (du -sb) in $(val tree.files) files," \
  "$(val tree.dirs) dirs; /usr/share, ... in name order up to $last"
echo "Snapshots: $snapshots per tool; ${#touched[@]} files (every 100th) appended to before each" \
  "one after the first"
echo "Runs: $runs per check after a warm-up, interleaved repo/restic; wall s per run:"
echo "  check: repo $(all repo check); restic $(all restic check)"
echo "  check --read-data: repo $(all repo read); restic $(all restic read)"
echo
line figure restic repo "repo vs restic" target ""
line ---------------------------------- ------- ------- -------------- -------------------- -------
for op in check read; do
  label="check" goal=3
  [[ $op == read ]] && label="check --read-data" goal=2
  p=$(med repo "$op" wall) r=$(med restic "$op" wall)
  ratio=$(div "$r" "$p" %.2f)
  ok=$(awk -v x="$ratio" -v g="$goal" 'BEGIN {print ((x >= g) ? "MET" : "NOT MET")}')
  line "$label: wall s (median)" "$r" "$p" "${ratio}x speed" ">= ${goal}x restic's speed" "$ok"
  p=$(med repo "$op" rss_kb) r=$(med restic "$op" rss_kb)
  line "$label: peak RSS MiB" "$(div "$r" 1024 %.0f)" "$(div "$p" 1024 %.0f)" \
    "$(div "$p" "$r" %.2fx)" "(reported only)" ""
done
p=$(val repo.repo_bytes) r=$(val restic.repo_bytes)
line "repository size (du -sb), MB" "$(div "$r" 1e6 %.0f)" "$(div "$p" 1e6 %.0f)" \
  "$(div "$p" "$r" %.2fx)" "" ""
echo
echo "'x speed' = restic's median wall time / repo's (above 1: repo is faster); other ratios are"
echo "repo / restic. MB = 10^6 bytes, MiB = 2^20 bytes."
echo
cmd=(bash bench/check.sh --size-gb "$size_gb" --runs "$runs" --snapshots "$snapshots")
[[ -n $keep_log ]] && cmd+=(--keep-log "$keep_log")
echo "Reproduce: cd $(printf %q "$repo_root") && $repro$(printf '%q ' "${cmd[@]}" | sed 's/ $//')"
