#!/usr/bin/env bash
# A fuzzing campaign: every target for RUNS executions (default 10,000,000), two targets at a
# time (one per core), from the corpus in fuzz/corpus/<target>/ (see seed.sh). Prints one
# Markdown row per target: executions, time, executions per second, corpus, coverage and
# findings; logs go to fuzz/logs/campaign-<target>.log and crashes to fuzz/artifacts/<target>/.
#
#   fuzz/campaign.sh [RUNS] [TARGET...]
#
# Built without AddressSanitizer (`-s none`): the code under test forbids `unsafe`, so the
# sanitizer guards only the few dependencies that use it, and costs three times the
# executions. SIP inputs are capped at 2,048 bytes (a NOTIFY is about 400; the
# `datagram_small` target's small limits reach every bound with inputs that short), files and
# streams at 4,096.
set -u
here=$(cd "$(dirname "$0")" && pwd)
runs=${1:-10000000}
[ $# -gt 0 ] && shift
targets=${*:-datagram datagram_small embedded tcp_framer panasonic snom}
mkdir -p "$here/logs"
cd "$here" || exit 1
RUSTC_BOOTSTRAP=1 cargo fuzz build -O -s none >"$here/logs/campaign-build.log" 2>&1 \
    || { echo "campaign.sh: the build failed: see fuzz/logs/campaign-build.log" >&2; exit 1; }

one() {
    local t=$1 len=4096 dict=""
    case $t in
    datagram | datagram_small | embedded) len=2048; dict="-dict=$here/sip.dict" ;;
    tcp_framer) dict="-dict=$here/sip.dict" ;;
    esac
    mkdir -p "$here/corpus/$t" "$here/artifacts/$t"
    local start end
    start=$(date +%s)
    # shellcheck disable=SC2086
    RUSTC_BOOTSTRAP=1 cargo fuzz run -O -s none "$t" -- -runs="$runs" -max_len="$len" \
        -timeout=10 -print_final_stats=1 $dict >"$here/logs/campaign-$t.log" 2>&1
    local code=$?
    end=$(date +%s)
    local log="$here/logs/campaign-$t.log"
    local execs cov corp findings
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    cov=$(grep -E 'DONE' "$log" | tail -1 | grep -o 'cov: [0-9]*' | awk '{print $2}')
    corp=$(grep -E 'DONE' "$log" | tail -1 | grep -o 'corp: [0-9]*/[0-9]*[KMb]*' | sed 's/corp: //')
    if [ $code -eq 0 ] && ! grep -q -E 'panicked|^SUMMARY|==ERROR' "$log"; then findings=none; else findings="**see $log**"; fi
    local secs=$((end - start))
    printf '| `%s` | %s | %s s | %s | %s | %s | %s |\n' "$t" "${execs:-?}" "$secs" \
        "$(( ${execs:-0} / (secs > 0 ? secs : 1) ))" "${corp:-?}" "${cov:-?}" "$findings"
}

echo "| target | executions | time | exec/s | corpus (inputs/size) | coverage | findings |"
echo "|---|---:|---:|---:|---|---:|---|"
set -- $targets
while [ $# -gt 0 ]; do
    one "$1" &
    a=$!
    if [ $# -gt 1 ]; then one "$2" & b=$!; wait $b; shift; fi
    wait $a
    shift
done
