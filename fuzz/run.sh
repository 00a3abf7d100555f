#!/bin/sh
# Runs every fuzz target in turn for SECONDS (default 300) each, one process on one core,
# from the corpus in fuzz/corpus/<target>/ (see seed.sh), and prints each target's final
# statistics. Logs go to fuzz/logs/<target>.log; crashes to fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Works on the stable toolchain: cargo-fuzz passes -Z flags to rustc, which RUSTC_BOOTSTRAP=1
# allows on a stable compiler.
set -u

here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-300}
[ $# -gt 0 ] && shift
targets=${*:-datagram datagram_small embedded tcp_framer panasonic snom}

mkdir -p "$here/logs"
cd "$here/logs" || exit 1
status=0
for t in $targets; do
    rm -f fuzz-0.log
    # The SIP targets use the dictionary of SIP tokens.
    case $t in
    datagram | datagram_small | embedded | tcp_framer) dict="-dict=$here/sip.dict" ;;
    *) dict="" ;;
    esac
    # shellcheck disable=SC2086
    RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir "$here" "$t" -- \
        -max_total_time="$seconds" -jobs=1 -workers=1 -timeout=10 -print_final_stats=1 $dict \
        >"build-$t.log" 2>&1 || status=1
    mv fuzz-0.log "$t.log" 2>/dev/null
    echo "== $t ($seconds s)"
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::' "$t.log"
    echo "corpus: $(ls "$here/corpus/$t" | wc -l) files"
    if grep -q -E 'panicked|^SUMMARY' "$t.log"; then
        status=1
        grep -E -A2 'panicked|^SUMMARY' "$t.log" | head -n 8
        grep -E "Test unit written to" "$t.log"
    fi
done
exit $status
