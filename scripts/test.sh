#!/usr/bin/env bash
# Runs every test of sip-resync: formatting, lints, unit, property, socket, SIPp and CLI tests,
# and the documentation examples. Installs the real SIP senders the tests drive when they are
# missing (Debian packages sip-tester for SIPp, sipsak, kamailio, and openssl, whose s_client
# sends SIP over TLS), and the file servers the provisioning tests start on loopback (tftpd-hpa,
# vsftpd, and libpam-pwdfile for vsftpd's test user); fails, never skips, when it cannot. The
# tests run their own servers: the system services of those packages are not used. Every test program runs even when
# one fails, and the closing line counts them all:
#   all tests: N passed, N failed
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package
# (pam_pwdfile.so is a PAM module, not a command: it is looked for in the PAM module directories.)
declare -A PACKAGES=([sipp]=sip-tester [sipsak]=sipsak [kamailio]=kamailio [openssl]=openssl [python3]=python3
    [in.tftpd]=tftpd-hpa [vsftpd]=vsftpd [pam_pwdfile.so]=libpam-pwdfile)
COMMANDS=(sipp sipsak kamailio openssl python3 in.tftpd vsftpd pam_pwdfile.so)
have() {
    case "$1" in
        *.so) compgen -G "/lib/*/security/$1" >/dev/null || compgen -G "/usr/lib/*/security/$1" >/dev/null ;;
        *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ] || [ -x "/usr/sbin/$1" ] ;;
    esac
}

missing=()
for cmd in "${COMMANDS[@]}"; do
    have "$cmd" || missing+=("${PACKAGES[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "test.sh: missing ${missing[*]}; installing the Debian packages" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo -n"
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: FAILED: apt-get is not available; install ${missing[*]} by hand" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >&2 || { echo "test.sh: FAILED: apt-get update failed" >&2; exit 1; }
    $SUDO apt-get install -y -qq "${missing[@]}" >&2 \
        || { echo "test.sh: FAILED: cannot install ${missing[*]}" >&2; exit 1; }
fi
for cmd in "${COMMANDS[@]}"; do
    have "$cmd" || { echo "test.sh: FAILED: ${PACKAGES[$cmd]} is installed but no $cmd was found" >&2; exit 1; }
done
# The Kamailio modules the tests load (tests/auth.rs, tests/rsipstack.rs), all in the kamailio
# package: a registrar with digest authentication and a uac_auth() failure route.
kmods="$(dirname "$(ls /usr/lib/*/kamailio/modules/tm.so 2>/dev/null | head -1)")"
for m in tm rr sl pv textops siputils usrloc registrar auth nathelper uac xlog rtimer; do
    [ -f "$kmods/$m.so" ] || { echo "test.sh: FAILED: the Kamailio module $m.so is missing from ${kmods:-/usr/lib/*/kamailio/modules} (Debian package kamailio)" >&2; exit 1; }
done
SIPP="$(command -v sipp || echo /usr/bin/sipp)"
echo "test.sh: using $("$SIPP" -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1) at $SIPP," \
    "$(sipsak --version 2>&1 | head -1)," \
    "$( (command -v kamailio >/dev/null && kamailio -v || /usr/sbin/kamailio -v) 2>&1 | head -1)," \
    "$( (command -v openssl >/dev/null && openssl version || /usr/bin/openssl version) 2>&1 | head -1)" >&2
export SIPP

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The core crate builds alone, pulls in no runtime, HTTP, TLS or command-line crate, and its
# module graph has no cycle.
scripts/check-core.sh

# Every test target, then the documentation examples, each run to the end even when a test
# fails; the totals close the run and decide the exit status.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets --locked --no-fail-fast 2>&1 | tee -a "$log" || status=1
cargo test --workspace --doc --locked --no-fail-fast 2>&1 | tee -a "$log" || status=1
passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) n += $i } END { print n + 0 }' "$log")
failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) n += $i } END { print n + 0 }' "$log")
echo
echo "all tests: ${passed} passed, ${failed} failed"
if [ "${failed}" -eq 0 ] && [ "${status}" -ne 0 ]; then
    echo "test.sh: FAILED: cargo test failed without a failing test (a build error or a crashed test program); see above" >&2
fi
[ "${failed}" -eq 0 ] && [ "${status}" -eq 0 ]
