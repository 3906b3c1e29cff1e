#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each for
# SECONDS_PER_TARGET (default 20) over a copy of its committed corpus, so the corpus in git is
# never modified. Exits non-zero if any target crashes, leaks, times out or trips an invariant;
# the reproducer is left in build-fuzz/fuzz-artifacts/<target>/ and the log in
# build-fuzz/fuzz-logs/<target>.log. See fuzz/README.md.
#
# Usage: fuzz/run-all.sh [SECONDS_PER_TARGET]
# Environment: REPO_FUZZ_BUILD_DIR (default <root>/build-fuzz), REPO_FUZZ_TARGETS (space-separated
# subset, default every fuzz/fuzz_*.cc), REPO_FUZZ_JOBS (build parallelism, default 2),
# REPO_FUZZ_PARALLEL (targets fuzzed at once, default 2: one per core here).
set -euo pipefail

seconds="${1:-20}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${REPO_FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${REPO_FUZZ_JOBS:-2}"
parallel="${REPO_FUZZ_PARALLEL:-2}"

if [[ -n "${REPO_FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$REPO_FUZZ_TARGETS"
else
  targets=()
  for src in "$root"/fuzz/fuzz_*.cc; do targets+=("$(basename "$src" .cc)"); done
fi

command -v clang++ >/dev/null || { echo "run-all.sh: clang++ not found" >&2; exit 2; }

start=$(date +%s)
mkdir -p "$build"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DREPO_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; exit 2; }
if ! cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$build/build.log" 2>&1; then
  tail -n 40 "$build/build.log" >&2
  echo "run-all.sh: build failed (log: $build/build.log)" >&2
  exit 2
fi
echo "built ${#targets[@]} fuzz targets in $(( $(date +%s) - start ))s ($build)"

# UBSan is compiled in recover mode: make its reports fatal so the fuzzer saves the input.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

mkdir -p "$build/fuzz-logs"
work_root="$(mktemp -d)"
trap 'rm -rf "$work_root"' EXIT

# Runs target $1 over a copy of its corpus; writes its summary to $work_root/$1.summary and
# returns non-zero if the fuzzer failed.
run_target() {
  local t="$1"
  local corpus="$work_root/$t" artifacts="$build/fuzz-artifacts/$t" log="$build/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  if [[ -d "$root/fuzz/corpus/$t" ]]; then cp "$root/fuzz/corpus/$t"/* "$corpus"/; fi
  local seeds extra=() status=ok runs cov
  seeds=$(find "$corpus" -type f | wc -l)
  [[ "$t" == fuzz_chunker ]] && extra+=(-max_len=65536)
  "$build/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${extra[@]}" "$corpus" >"$log" 2>&1 ||
    status=FAILED
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1 || true)
  {
    printf '%-18s %-6s %3ss %9s runs  %-20s corpus %d -> %d\n' "$t" "$status" "$seconds" \
      "${runs:-?}" "${cov:-cov: ?}" "$seeds" "$(find "$corpus" -type f | wc -l)"
    if [[ $status != ok ]]; then
      grep -m 4 -E 'ERROR: |invariant violated|runtime error|Test unit written' "$log" |
        sed 's/^/    /' || true
      echo "    log: $log"
    fi
  } >"$work_root/$t.summary"
  [[ $status == ok ]]
}

# Up to $parallel targets at a time; summaries are printed in target order.
pids=()
for t in "${targets[@]}"; do
  while (( $(jobs -rp | wc -l) >= parallel )); do wait -n || true; done
  run_target "$t" &
  pids+=($!)
done
failed=0
for i in "${!targets[@]}"; do
  wait "${pids[$i]}" || failed=1
  cat "$work_root/${targets[$i]}.summary"
done
echo "fuzzing took $(( $(date +%s) - start ))s in total (${#targets[@]} targets, $parallel at a time)"
exit "$failed"
