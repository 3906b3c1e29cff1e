#!/bin/bash
# Compares `repo` with restic and borg on the same data in one run (docs/perf.md, "Snapshot and
# restore against restic and borg"): initial snapshot of ~2 GB of real files copied from /usr,
# no-op second snapshot, full restore (beside `cp -a` of the same tree; each restore and copy
# into a freshly made ext4 filesystem of its own, loop-mounted), and two successive
# `pg_dump -Fc -Z0` dumps of a pgbench database with 0.1% of the account rows updated in between,
# stored as one stream name (bytes the second dump adds). Each command runs under
# `/usr/bin/time -v` for wall time, user+sys CPU and peak RSS; the report prints every figure
# beside its target, met or not.
#
# Usage: bash bench/compare.sh [--size-gb N] [--pg-scale N] [--wait-quiet] [--keep-log DIR]
#   --size-gb N     size of the file tree (default 2)
#   --pg-scale N    pgbench scale (default 45: a ~460 MB dump)
#   --wait-quiet    wait (up to 10 minutes, at the start and again before the timed commands)
#                   for the 1-minute load average to drop below 0.5
#   --keep-log DIR  copy the raw measurements (results.tsv, tool output) to DIR
# Environment: REPO_BIN (a built `repo`; default: build it in build-bench/), PG_BIN.
#
# Run as root (it installs Debian packages, runs PostgreSQL as the `postgres` user and
# loop-mounts filesystem images). Needs about 4 x the tree size plus 4 x the dump size free
# under /tmp (one restore target exists at a time; 8 x the tree size in the fallback without
# loop devices, where the targets are kept until the end). Everything lives in one scratch
# directory that is removed on exit (after unmounting and detaching any image still mounted),
# and the private PostgreSQL server is stopped. Takes about 10 minutes at the defaults on 2
# cores, plus the removal of the scratch directory. Not part of the test suite.
set -euo pipefail

size_gb=2
pg_scale=45
wait_quiet=0
keep_log=
while (($#)); do
  case $1 in
    --size-gb) size_gb=$2; shift 2 ;;
    --pg-scale) pg_scale=$2; shift 2 ;;
    --wait-quiet) wait_quiet=1; shift ;;
    --keep-log) keep_log=$(realpath -m "$2"); shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

repo_root=$(cd "$(dirname "$0")/.." && pwd)
here=$repo_root/bench
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PATH=$PATH:/usr/sbin:/sbin  # mkfs.ext4, losetup
log() { printf '== %s %s\n' "$(date +%T)" "$*" >&2; }

# --- packages and binaries ----------------------------------------------------------------
need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
[[ -x /usr/bin/time ]] || need+=(time)
[[ -x $pg_bin/initdb ]] || need+=(postgresql)
command -v python3 >/dev/null || need+=(python3)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
{ command -v losetup && command -v mount && command -v umount; } >/dev/null || need+=(mount)
if ((${#need[@]})); then
  log "apt-get install -y ${need[*]}"
  if [[ $(id -u) == 0 ]]; then apt-get install -y "${need[@]}" >/dev/null
  else sudo apt-get install -y "${need[@]}" >/dev/null; fi
fi

if [[ -z ${REPO_BIN:-} ]]; then
  log "building repo in build-bench/"
  cmake -S "$repo_root" -B "$repo_root/build-bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DREPO_TESTS=OFF >/dev/null
  cmake --build "$repo_root/build-bench" -j2 --target repo >/dev/null
  REPO_BIN=$repo_root/build-bench/cli/repo
fi
REPO_BIN=$(realpath "$REPO_BIN")
[[ -x $REPO_BIN ]] || { echo "compare.sh: no repo binary at $REPO_BIN" >&2; exit 1; }

# --- scratch directory, cleanup ------------------------------------------------------------
work=$(mktemp -d /tmp/repo-compare.XXXXXX)
chmod 711 "$work"  # the postgres user must reach pg/ below it
as_pg() {  # initdb and postgres refuse to run as root
  if [[ $(id -u) == 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
pg_started=0
# Restore targets: each on a fresh ext4 image of its own (see "Restores" below for why); 0 when
# this process cannot loop-mount.
mkfs_opts=(-q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard)
fresh_fs=1

# Makes an empty directory $1 and, with fresh_fs, a new ext4 filesystem mounted on it (size $2
# bytes, default img_bytes). Returns non-zero, leaving fs_down to undo the rest, on any failure.
fs_up() {
  local dir=$1 bytes=${2:-$img_bytes}
  mkdir -p "$dir" || return 1
  ((fresh_fs)) || return 0
  mkdir -p "$work/images" || return 1
  fs_img=$work/images/${dir##*/}.img
  truncate -s "$bytes" "$fs_img" || return 1
  mkfs.ext4 "${mkfs_opts[@]}" "$fs_img" >/dev/null || return 1
  fs_loop=$(losetup --direct-io=on --find --show "$fs_img") || { fs_loop=; return 1; }
  mount "$fs_loop" "$dir" || return 1
  fs_mnt=$dir
}
# Unmounts, detaches and deletes what fs_up made (the target's contents go with the image).
fs_down() {
  local ok=0
  if [[ -n $fs_mnt ]]; then
    umount "$fs_mnt" || { umount -l "$fs_mnt"; ok=1; }
    rmdir "$fs_mnt" 2>/dev/null || true
    fs_mnt=
  fi
  if [[ -n $fs_loop ]]; then losetup -d "$fs_loop" || ok=1; fs_loop=; fi
  if [[ -n $fs_img ]]; then rm -f "$fs_img"; fs_img=; fi
  return $ok
}
fs_mnt= fs_loop= fs_img=  # the restore target's filesystem while one is mounted (fs_up)
cleanup() {
  fs_down || true
  # Anything else left under the scratch dir (should be nothing): unmount, detach its loop device.
  local m f
  while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done < <(awk -v w="$work/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r)
  for f in "$work"/images/*.img; do
    [[ -e $f ]] || continue
    losetup -j "$f" 2>/dev/null | cut -d: -f1 | while read -r m; do losetup -d "$m" || true; done \
      || true
  done
  if ((pg_started)); then
    as_pg "$pg_bin/pg_ctl -D $work/pg/data -m fast stop" >/dev/null 2>&1 || true
  fi
  if [[ -n $keep_log && -f $work/results.tsv ]]; then
    mkdir -p "$keep_log" && cp "$work"/results.tsv "$work"/*.log "$work"/*.time "$keep_log"/ \
      2>/dev/null || true
  fi
  log "removing $work"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# With --wait-quiet: up to 10 minutes for the 1-minute load average to fall below 0.5.
wait_for_quiet() {
  ((wait_quiet)) || return 0
  local load
  for _ in $(seq 60); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    python3 -c "import sys; sys.exit(0 if $load < 0.5 else 1)" && return 0
    log "1-minute load $load; waiting for a quiet machine"
    sleep 10
  done
}
wait_for_quiet

results=$work/results.tsv
: >"$results"
rec() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; }  # key, value, note

# Reads every byte under the given paths into the page cache (GNU tar skips reading when the
# archive is /dev/null itself, hence the pipe).
warm() { tar -cf - "$@" 2>/dev/null | cat >/dev/null || true; }

# Runs a command under /usr/bin/time -v and records wall, CPU, peak RSS and disk reads as
# "<tool>.<op>.*". Untimed, first: dirty pages are flushed (so one tool's writeback does not land
# in the next one's figures) and the paths in $hot are read again. They must be re-read before
# each command: this kernel runs DAMON proactive reclaim, which drops page cache untouched for
# about a minute, so a single warm-up at the start leaves the later tools reading from disk.
hot=()
timed() {
  local tool=$1 op=$2; shift 2
  sync
  ((${#hot[@]})) && warm "${hot[@]}"
  local tf=$work/$tool.$op.time
  if ! /usr/bin/time -v -o "$tf" "$@" >"$work/$tool.$op.log" 2>&1; then
    echo "compare.sh: $tool $op failed:" >&2; tail -n 20 "$work/$tool.$op.log" >&2
    cat "$tf" >&2; exit 1
  fi
  python3 "$here/compare_report.py" parse-time "$tool.$op" "$tf" >>"$results"
  local wall; wall=$(awk -F'\t' -v k="$tool.$op.wall" '$1==k {print $2}' "$results")
  log "$tool $op: ${wall}s"
}
dsize() { du -sb "$1" | cut -f1; }

# --- the file tree ------------------------------------------------------------------------
# Top-level entries of these directories in name order, until the tree reaches the size: the
# defaults give all of /usr/share and /usr/include and part of /usr/lib/x86_64-linux-gnu.
target_bytes=$(python3 -c "print(int($size_gb * 1e9))")
src=$work/src
mkdir -p "$src"
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
tree_bytes=$(dsize "$src")
file_bytes=$(find "$src" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
distinct_bytes=$(find "$src" -type f -printf '%i %s\n' | sort -u | awk '{s+=$2} END {print s+0}')
rec tree.du_bytes "$tree_bytes" ""
rec tree.file_bytes "$file_bytes" ""
rec tree.distinct_bytes "$distinct_bytes" "hard links once"
rec tree.files "$(find "$src" -type f | wc -l)" ""
rec tree.dirs "$(find "$src" -type d | wc -l)" ""
rec tree.symlinks "$(find "$src" -type l | wc -l)" ""
rec tree.last_entry "$last" "copied in name order up to here"

# --- PostgreSQL dumps (made before any timing, so the server is idle during the runs) -------
log "pgbench scale $pg_scale and two dumps"
mkdir -p "$work/pg/sock"
[[ $(id -u) == 0 ]] && chown -R postgres: "$work/pg"
as_pg "$pg_bin/initdb -D $work/pg/data -A trust -U postgres" >/dev/null
pg_started=1
as_pg "$pg_bin/pg_ctl -D $work/pg/data -l $work/pg/log -w \
  -o \"-k $work/pg/sock -c listen_addresses='' -p 54331\" start" >/dev/null
pg="-h $work/pg/sock -p 54331 -U postgres"
as_pg "$pg_bin/createdb $pg bench"
as_pg "$pg_bin/pgbench $pg -i -q -s $pg_scale bench" 2>/dev/null
as_pg "$pg_bin/pg_dump $pg -Fc -Z0 -f $work/pg/dump1 bench"
rows=$((pg_scale * 100000))
as_pg "$pg_bin/psql $pg -q -d bench -c \"SELECT setseed(0.42)\" -c \"UPDATE pgbench_accounts \
  SET abalance = abalance + 1 WHERE aid IN \
  (SELECT 1 + floor(random() * $rows)::int FROM generate_series(1, $rows / 1000))\"" >/dev/null
as_pg "$pg_bin/pg_dump $pg -Fc -Z0 -f $work/pg/dump2 bench"
as_pg "$pg_bin/pg_ctl -D $work/pg/data -m fast stop" >/dev/null
pg_started=0
rm -rf "$work/pg/data"
dump1=$work/pg/dump1 dump2=$work/pg/dump2
rec pg.scale "$pg_scale" ""
rec pg.rows_updated "$((rows / 1000))" "of $rows accounts"
rec pg.dump1_bytes "$(stat -c %s "$dump1")" ""
rec pg.dump2_bytes "$(stat -c %s "$dump2")" ""

# --- tools: one environment per tool, caches fresh and inside the scratch dir ---------------
printf 'compare-bench-password\n' >"$work/password"
export RESTIC_PASSWORD_FILE=$work/password RESTIC_CACHE_DIR=$work/restic-cache
export BORG_PASSPHRASE=compare-bench-password BORG_BASE_DIR=$work/borg-base
export BORG_CACHE_DIR=$work/borg-base/cache BORG_CONFIG_DIR=$work/borg-base/config
export BORG_SECURITY_DIR=$work/borg-base/security BORG_KEYS_DIR=$work/borg-base/keys
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export REPO_PASSWORD_FILE=$work/password REPO_CACHE_DIR=$work/repo-cache
unset RESTIC_REPOSITORY REPO_REPOSITORY BORG_REPO
rec version.restic "$(restic version | head -n1)" ""
rec version.borg "$(borg --version)" ""
rec version.repo "$("$REPO_BIN" version)" ""
rec version.repo_commit "$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)" ""
rec version.postgres "$("$pg_bin/postgres" --version)" ""
rec machine.cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" ""
rec machine.cores "$(nproc)" ""
rec machine.mem_gib "$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)" ""
rec machine.os "$(. /etc/os-release && echo "$PRETTY_NAME") $(cat /etc/debian_version)" ""

restic_init() { restic -r "$1" init >/dev/null; }
borg_init() { borg init -e repokey-blake2 "$1" >/dev/null 2>&1; }
repo_init() { "$REPO_BIN" -r "$1" init >/dev/null; }

# File tree repositories: initial snapshot, then the no-op one, tool by tool.
restic_init "$work/restic-files"
borg_init "$work/borg-files"
repo_init "$work/repo-files"
rec restic.compression "$(restic -r "$work/restic-files" cat config | \
  python3 -c 'import json,sys; c=json.load(sys.stdin); print("repository v%d" % c["version"])')" \
  "compression auto"
# The zstd level `repo init` used: its default, as its help states it.
rec repo.compression "$("$REPO_BIN" init --help | sed -n 's/.*--compression.*(default: \([0-9]*\)).*/\1/p')" \
  "zstd level, repo init's default"

# Each tool's command runs with the source, its repository and its cache freshly read.
# The copy and pgbench above load the machine; let the load average settle before timing.
wait_for_quiet
rec machine.load_start "$(cut -d' ' -f1-3 /proc/loadavg)" ""

rh() { hot=("$@" "$work/restic-cache"); }
bh() { hot=("$@" "$work/borg-base"); }
ph() { hot=("$@" "$work/repo-cache"); }

log "initial snapshots"
rh "$src" "$work/restic-files"
timed restic initial restic -r "$work/restic-files" backup --quiet "$src"
bh "$src" "$work/borg-files"
timed borg initial borg create "$work/borg-files::s1" "$src"
ph "$src" "$work/repo-files"
timed repo initial "$REPO_BIN" -r "$work/repo-files" snapshot --no-progress --json "$src"
sync
rec restic.initial.repo_bytes "$(dsize "$work/restic-files")" ""
rec borg.initial.repo_bytes "$(dsize "$work/borg-files")" ""
rec repo.initial.repo_bytes "$(dsize "$work/repo-files")" ""

# No-op: three more snapshots of the unchanged tree per tool, in turn; the median is reported
# (these take seconds, so one run is noisy). Only metadata is read: the walk of the tree.
log "no-op snapshots"
for i in 1 2 3; do
  rh "$src" "$work/restic-files"
  timed restic noop$i restic -r "$work/restic-files" backup --quiet "$src"
  bh "$src" "$work/borg-files"
  timed borg noop$i borg create "$work/borg-files::n$i" "$src"
  ph "$src" "$work/repo-files"
  timed repo noop$i "$REPO_BIN" -r "$work/repo-files" snapshot --no-progress --json "$src"
done

# Restores of the initial snapshot, and `cp -a` of the source as the baseline. Every target is
# a fresh ext4 filesystem of its own: a sparse image under the scratch dir (4 x the file bytes
# plus 1 GiB), made with the inode tables and journal zeroed up front (lazy_itable_init=0,
# lazy_journal_init=0, so no ext4lazyinit thread writes during the timed command; nodiscard, as
# a sparse image has nothing to discard) and attached
# with direct I/O (so its writeback does not pass through the page cache a second time as the
# image file's). Made, mounted, timed into, checked with `diff -r`, unmounted and deleted, one
# after the other, so at most one exists at a time. Without it, restore times (of every tool and
# of `cp -a`) depended on the shared root ext4's history: after large deletes, creating 57,000
# files searched its inode bitmaps (`find_inode_bit`, `recently_deleted`), and `cp -a` alone
# took 5.1-8.7 s. (Deleting one image is cheap even with the root's `discard`; deleting a 2 GB
# tree of small files there took 17-133 s and slowed the writes after it, which is why the old
# targets were kept until the end, as they still are in the fallback without loop devices.)
# Order: `cp -a` first, restic, borg, `cp -a` just before repo's restore and just after it, and
# repo is compared with the mean of those two. The fresh filesystems remove the disk's state, but
# not the VM's: its cost of filling new page cache varied 2-3x over minutes (cp -a of the same
# tree took 3.6-27 s), so the baseline runs next to repo's restore are still the fairest; all
# three are reported, the first one also as the neighbour of restic's and borg's restores.
# `latest` is the last no-op snapshot: the same tree as the initial one (borg names it).
# Roomy (the image is sparse, so free space costs nothing): ext4 makes every writer wait for
# writeback of the whole filesystem once free space falls below 1.5x its dirty data
# (ext4_nonda_switch). With 2x, the end of each restore and copy ran into that: repo's restore of
# the 2 GB tree took 6.2 s into a 4 GiB filesystem, its workers in wb_wait_for_completion, and
# 4.5 s into a 10 GiB one.
img_bytes=$((((4 * file_bytes >> 20) + 1025) << 20))  # whole MiB: a loop device takes whole sectors
if [[ ! -e /dev/loop-control ]]; then
  fresh_fs=0
elif ! fs_up "$work/probe" $((64 << 20)); then  # can this process mount loop images at all?
  fs_down || true
  fresh_fs=0
else
  fs_down
fi
if ((fresh_fs)); then
  rec restore.targets "fresh ext4 per target" "loop image of $((img_bytes >> 20)) MiB, direct I/O"
else
  echo "compare.sh: WARNING: cannot loop-mount filesystem images (no /dev/loop-control, or" \
    "losetup/mount failed); restoring into directories on the scratch dir's filesystem as" \
    "before, kept until the end. Restore times then depend on that disk's state." >&2
  rec restore.targets "directories on the scratch disk" "no loop devices: state of a shared disk"
fi

# Checks the tree restored under $2 against the source; records it as "<$1>.check".
check() {
  rec "$1.check" "$(diff -r --no-dereference "$src" "$2" >/dev/null 2>&1 \
    && echo same || echo DIFFERS)" ""
}
# One timed restore or copy: fresh target, the command, the check, then the target goes (with
# fresh_fs; otherwise it stays until the scratch dir is removed).
# Usage: restore_run TOOL OP TARGET RESTORED_TREE COMMAND...
restore_run() {
  local tool=$1 op=$2 target=$3 tree=$4; shift 4
  fs_up "$target" || { echo "compare.sh: cannot make a filesystem at $target" >&2; exit 1; }
  timed "$tool" "$op" "$@"
  check "$tool.$op" "$tree"
  fs_down || { echo "compare.sh: cannot unmount $target" >&2; exit 1; }
}

log "restores"
# cp -a into an existing directory (the mount point) copies the tree to <target>/src.
hot=("$src")
restore_run cp restore1 "$work/target-cp1" "$work/target-cp1/src" cp -a "$src" "$work/target-cp1/"
rh "$work/restic-files"
restore_run restic restore "$work/target-restic" "$work/target-restic$src" \
  restic -r "$work/restic-files" restore latest --target "$work/target-restic"
bh "$work/borg-files"
restore_run borg restore "$work/target-borg" "$work/target-borg$src" \
  sh -c "cd '$work/target-borg' && exec borg extract '$work/borg-files::s1'"
hot=("$src")
restore_run cp restore2 "$work/target-cp2" "$work/target-cp2/src" cp -a "$src" "$work/target-cp2/"
ph "$work/repo-files"
restore_run repo restore "$work/target-repo" "$work/target-repo$src" \
  "$REPO_BIN" -r "$work/repo-files" restore latest --target "$work/target-repo"
hot=("$src")
restore_run cp restore3 "$work/target-cp3" "$work/target-cp3/src" cp -a "$src" "$work/target-cp3/"
hot=()

# Dump repositories: fresh, separate from the file tree ones. Same stream name twice.
log "pg_dump snapshots"
restic_init "$work/restic-db"
borg_init "$work/borg-db"
repo_init "$work/repo-db"
for n in 1 2; do
  d=$work/pg/dump$n
  before_r=$(dsize "$work/restic-db") before_b=$(dsize "$work/borg-db")
  before_p=$(dsize "$work/repo-db")
  rh "$d" "$work/restic-db"
  timed restic dump$n sh -c "exec restic -r '$work/restic-db' backup --quiet --stdin \
    --stdin-filename db.dump < '$d'"
  bh "$d" "$work/borg-db"
  timed borg dump$n sh -c "exec borg create --stdin-name db.dump '$work/borg-db::d$n' - < '$d'"
  ph "$d" "$work/repo-db"
  timed repo dump$n sh -c "exec '$REPO_BIN' -r '$work/repo-db' snapshot --no-progress --json \
    --stdin --stdin-filename db.dump < '$d'"
  sync
  rec restic.dump$n.added "$(($(dsize "$work/restic-db") - before_r))" ""
  rec borg.dump$n.added "$(($(dsize "$work/borg-db") - before_b))" ""
  rec repo.dump$n.added "$(($(dsize "$work/repo-db") - before_p))" ""
done
# repo's own count of what the second dump added, for comparison with du.
rec repo.dump2.bytes_added_json "$(python3 "$here/compare_report.py" summary-field bytes_added \
  "$work/repo.dump2.log")" ""
rec repo.initial.data_blobs "$(python3 "$here/compare_report.py" summary-field data_blobs \
  "$work/repo.initial.log")" ""
rec repo.initial.bytes_added_json "$(python3 "$here/compare_report.py" summary-field \
  bytes_added "$work/repo.initial.log")" ""
rec machine.load_end "$(cut -d' ' -f1-3 /proc/loadavg)" ""

python3 "$here/compare_report.py" report "$results"
