#!/usr/bin/env bash
# Hunts flaky tests: runs the whole test suite RUNS times (default 10) while two CPU-burning
# processes compete for the cores, and reports every test that failed even once.
#
#   scripts/flake-hunt.sh [RUNS]
#
# The burners are started, bounded (each ends by itself after at most BURN_LIMIT seconds,
# default 3 h) and stopped by this script, also when it is interrupted. Each run's output is
# kept in target/flake-hunt/run-N.log. Exits 1 when any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-10}"
burn_limit="${BURN_LIMIT:-10800}"
out=target/flake-hunt
mkdir -p "$out"
rm -f "$out"/run-*.log

echo "flake-hunt: building the tests" >&2
cargo test --all-targets --locked --no-run >&2 2>"$out/build.log" || {
    cat "$out/build.log" >&2
    exit 1
}

burners=()
stop_burners() {
    for pid in "${burners[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap stop_burners EXIT INT TERM
for _ in 1 2; do
    timeout "$burn_limit" sh -c 'while :; do :; done' &
    burners+=("$!")
done
echo "flake-hunt: ${#burners[@]} CPU burners running (pids ${burners[*]}), $runs runs of the suite" >&2

total_failed=0
for i in $(seq 1 "$runs"); do
    log="$out/run-$i.log"
    start=$(date +%s)
    cargo test --all-targets --locked --no-fail-fast >"$log" 2>&1 || true
    cargo test --doc --locked --no-fail-fast >>"$log" 2>&1 || true
    passed=$(awk '/^test result:/ { for (k = 1; k < NF; k++) if ($(k + 1) ~ /^passed/) n += $k } END { print n + 0 }' "$log")
    failed=$(awk '/^test result:/ { for (k = 1; k < NF; k++) if ($(k + 1) ~ /^failed/) n += $k } END { print n + 0 }' "$log")
    names=$(grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | tr '\n' ' ' || true)
    echo "run $i: ${passed} passed, ${failed} failed in $(( $(date +%s) - start )) s ${names:+(failed: $names)}"
    total_failed=$((total_failed + failed))
done

echo
echo "flake-hunt: failures per test over $runs runs (logs in $out/):"
grep -hE '^test .* \.\.\. FAILED$' "$out"/run-*.log | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' \
    | sort | uniq -c | sort -rn || echo "  none"
[ "$total_failed" -eq 0 ]
