#!/bin/bash
# Reproduces the "Chunk size" tables of docs/perf.md: how many bytes a backup adds under each
# chunk-size setting when 0.1% of a pgbench database's account rows changed since the last
# pg_dump, and chunk counts for a tar of /usr/include.
#
# Usage: bench/chunk_sizes.sh [CHUNK_DEDUP_BINARY]   (default: build/bench/chunk_dedup)
# Needs PostgreSQL 15 (Debian: apt-get install -y postgresql). Runs a private server on a unix
# socket in a temporary directory (as the postgres user when run as root) and removes everything
# on exit. Takes a few minutes; not part of the test suite.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
chunk_dedup=$(realpath "${1:-$repo_root/build/bench/chunk_dedup}")
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
scale=${PGBENCH_SCALE:-20}
[[ -x $chunk_dedup ]] || { echo "no chunk_dedup at $chunk_dedup; build target chunk_dedup" >&2; exit 1; }
[[ -x $pg_bin/initdb ]] || { echo "no PostgreSQL at $pg_bin; apt-get install -y postgresql" >&2; exit 1; }

work=$(mktemp -d /tmp/chunk_sizes.XXXXXX)
as_pg() {  # initdb and postgres refuse to run as root
  if [[ $(id -u) == 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
[[ $(id -u) == 0 ]] && chown postgres: "$work"
cleanup() {
  as_pg "$pg_bin/pg_ctl -D $work/data -m fast stop" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/sock" && [[ $(id -u) == 0 ]] && chown postgres: "$work/sock"
as_pg "$pg_bin/initdb -D $work/data -A trust -U postgres" >/dev/null
as_pg "$pg_bin/pg_ctl -D $work/data -l $work/log -w \
  -o \"-k $work/sock -c listen_addresses='' -p 54329\" start" >/dev/null
pg="-h $work/sock -p 54329 -U postgres"
as_pg "$pg_bin/createdb $pg bench"
as_pg "$pg_bin/pgbench $pg -i -q -s $scale bench" 2>/dev/null
as_pg "$pg_bin/pg_dump $pg -Fc -Z0 -f $work/dump1 bench"
# Three changes, each dumped: (1) 0.1% of the accounts at random (fixed seed); (2) every 1000th
# account (evenly spaced: the worst case for a given count); (3) 2000 pgbench TPC-B transactions
# (random account, teller and branch updates plus history inserts). With pgbench's fillfactor 100
# an updated row moves to the end of the table, so each dump differs from the one before by
# ~2000 scattered deletions and ~200 KB appended.
rows=$((scale * 100000))
sql() { as_pg "$pg_bin/psql $pg -q -d bench $*" >/dev/null; }
sql -c "\"SELECT setseed(0.42)\"" -c "\"UPDATE pgbench_accounts SET abalance = abalance + 1 \
  WHERE aid IN (SELECT 1 + floor(random() * $rows)::int FROM generate_series(1, $rows / 1000))\""
as_pg "$pg_bin/pg_dump $pg -Fc -Z0 -f $work/dump2 bench"
sql -c "\"UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 1000 = 7\""
as_pg "$pg_bin/pg_dump $pg -Fc -Z0 -f $work/dump3 bench"
as_pg "$pg_bin/pgbench $pg -n -t $((rows / 1000)) bench" >/dev/null
as_pg "$pg_bin/pg_dump $pg -Fc -Z0 -f $work/dump4 bench"
as_pg "$pg_bin/pg_ctl -D $work/data -m fast stop" >/dev/null

# min = avg/4, max = 4*avg; 512K/2M/8M is borg's default (chunker-params 19,23,21).
sweep=()
for kib in 8 16 32 64 128 256 512 1024 2048; do
  avg=$((kib * 1024))
  sweep+=($((avg / 4)) $avg $((avg * 4)))
done
# Variants of min and max around the candidates.
variants=(2048 16384 65536  8192 16384 65536  4096 16384 32768  4096 16384 131072
          4096 32768 131072  8192 32768 65536)

echo "== pgbench scale $scale, pg_dump -Fc -Z0; (1) 0.1% of accounts updated at random"
"$chunk_dedup" "$work/dump1" "$work/dump2" "${sweep[@]}" "${variants[@]}"
echo "== (2) every 1000th account updated"
"$chunk_dedup" "$work/dump2" "$work/dump3" "${sweep[@]}" "${variants[@]}"
echo "== (3) $((rows / 1000)) pgbench transactions"
"$chunk_dedup" "$work/dump3" "$work/dump4" "${sweep[@]}"
echo "== (2) again with other gear tables: repositories have secret seeds"
for seed in 1 2 3 4 5; do
  echo "seed $seed"
  "$chunk_dedup" --seed $seed "$work/dump2" "$work/dump3" 2048 8192 32768 4096 16384 65536 \
    8192 32768 131072 | tail -n 3
done

echo "== tar of /usr/include (distinct chunks within one tree)"
tar -cf "$work/include.tar" -C /usr include 2>/dev/null
"$chunk_dedup" /dev/null "$work/include.tar" "${sweep[@]}"
