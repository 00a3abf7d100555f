#!/usr/bin/env bash
# Runs every test of sip-resync: formatting, lints, unit, property, socket, SIPp and CLI tests.
# Installs SIPp (Debian package sip-tester) when it is missing; fails, never skips, when it
# cannot.
set -euo pipefail
cd "$(dirname "$0")/.."

find_sipp() { command -v sipp || { [ -x /usr/bin/sipp ] && echo /usr/bin/sipp; } || true; }

if [ -z "$(find_sipp)" ]; then
    echo "test.sh: SIPp is missing; installing the Debian package sip-tester" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo -n"
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: FAILED: apt-get is not available; install SIPp (package sip-tester) by hand" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >&2 || { echo "test.sh: FAILED: apt-get update failed" >&2; exit 1; }
    $SUDO apt-get install -y -qq sip-tester >&2 || { echo "test.sh: FAILED: cannot install sip-tester" >&2; exit 1; }
fi
SIPP="$(find_sipp)"
if [ -z "$SIPP" ]; then
    echo "test.sh: FAILED: sip-tester is installed but no sipp binary was found" >&2
    exit 1
fi
echo "test.sh: using $("$SIPP" -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1) at $SIPP" >&2
export SIPP

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

# Every test target, then the documentation examples; the totals close the run.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --all-targets --locked 2>&1 | tee -a "$log"
cargo test --doc --locked 2>&1 | tee -a "$log"
passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) n += $i } END { print n + 0 }' "$log")
failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) n += $i } END { print n + 0 }' "$log")
echo
echo "all tests: ${passed} passed, ${failed} failed"
[ "${failed}" -eq 0 ]
