#!/usr/bin/env bash
# smoke.sh - `make fuzz-smoke`: for each target named on the command line, replays fuzz/regressions/<target>/,
# then fuzzes for $FUZZ_SECONDS (default 10) from fuzz/corpus/<target>/ with fuzz/dict/<name>.dict when there is
# one. New corpus entries go to a scratch folder (the committed seeds stay as they are). Any crash, leak, timeout
# or sanitizer report fails the run; its input is copied to fuzz/regressions/<target>/ to be fixed and committed.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-10}
work=build/fuzz-smoke
rm -rf "$work" && mkdir -p "$work"
failed=()
printf '%-22s %10s %8s %6s  %s\n' target execs exec/s edges result
for t in "$@"; do
    bin=build/fuzz/$t
    name=${t#fuzz_}
    opts=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 "-artifact_prefix=$work/$t-")
    [ -f "fuzz/dict/$name.dict" ] && opts+=("-dict=fuzz/dict/$name.dict")
    log=$work/$t.log
    ok=1
    # 1. the regression inputs: each once
    if [ -d "fuzz/regressions/$t" ] && [ -n "$(ls -A "fuzz/regressions/$t")" ]; then
        "$bin" "${opts[@]}" fuzz/regressions/"$t"/* >"$work/$t.regressions.log" 2>&1 || ok=0
        [ $ok = 1 ] || { echo "$t: a regression input fails again, see $work/$t.regressions.log" >&2; }
    fi
    # 2. a short campaign from the seeds
    mkdir -p "$work/$t.corpus"
    seeds=()
    [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
    "$bin" "${opts[@]}" -max_total_time="$secs" "$work/$t.corpus" "${seeds[@]}" >"$log" 2>&1 || ok=0
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    edges=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    for a in "$work/$t"-*; do
        [ -f "$a" ] || continue
        mkdir -p "fuzz/regressions/$t"
        cp "$a" "fuzz/regressions/$t/" && echo "$t: new regression input fuzz/regressions/$t/$(basename "$a")" >&2
    done
    if [ $ok = 1 ]; then result=ok; else result=FAILED; failed+=("$t"); grep -m5 -E 'ERROR|SUMMARY|runtime error' "$log" >&2; fi
    printf '%-22s %10s %8s %6s  %s\n' "$t" "${execs:-0}" "${rate:-0}" "${edges:-?}" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz-smoke: FAILED: ${failed[*]} (logs in $work/)" >&2
    exit 1
fi
echo "fuzz-smoke: every target ran ${secs}s without a crash, leak or sanitizer report"
