#!/usr/bin/env bash
# What sip-resync costs a phone: sizes, memory and build time, side by side with an older
# build when one is given.
#
#   scripts/footprint.sh                          this tree
#   FOOTPRINT_BEFORE=/path/to/old/sip-resync scripts/footprint.sh
#                                                 adds the older binary's size and idle RSS
#
# Measures, in one run:
#   binary        the stripped release binary `sip-resync` (the profile in Cargo.toml)
#   embedded_min  the stripped release build of crates/core/examples/embedded_min.rs: a
#                 program that uses only the core's Embedded (what the core costs firmware)
#   idle RSS      VmRSS of `sip-resync run` with one provisioning file configured (file://),
#                 5 s after it logged "listening", then again after 100 check-syncs
#   core build    the core crate's clean build time (a fresh target directory, debug,
#                 dependencies included) and the number of crates in its dependency tree
#
# Writes target/footprint/results.md. Every process it starts is stopped when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="$ROOT/target/footprint"
mkdir -p "$OUT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

say() { echo "footprint.sh: $*" >&2; }
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
WORK="$(mktemp -d)"
trap cleanup EXIT

say "building the release binary and the core-only example"
cargo build --release --locked --quiet -p sip-resync-cli --bin sip-resync
cargo build --release --locked --quiet -p sip-resync-core --example embedded_min
BIN="$CARGO_TARGET_DIR/release/sip-resync"
MIN="$CARGO_TARGET_DIR/release/examples/embedded_min"
strip -o "$WORK/embedded_min" "$MIN"
strip -o "$WORK/sip-resync" "$BIN"
size_of() { stat -c %s "$1"; }

# One provisioning file, served from the file system: the engine, its HTTP client and the
# listeners all start, and nothing is fetched over the network.
mkdir -p "$WORK/files" "$WORK/state"
printf '# Panasonic SIP Phone Standard Format File # DO NOT CHANGE THIS LINE!\nCFG_CYCLIC="N"\n' >"$WORK/files/phone.cfg"
cat >"$WORK/agent.toml" <<EOF
[sip]
listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]
[provisioning]
files = [{ url = "file://$WORK/files/phone.cfg" }]
state_dir = "$WORK/state"
EOF

# idle_rss BINARY LABEL: prints "RSS_KB RSS_AFTER_KB".
idle_rss() {
    local bin="$1" log="$WORK/$2.log" pid port
    "$bin" run --config "$WORK/agent.toml" 2>"$log" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 100); do
        grep -q "listening on udp" "$log" && break
        sleep 0.1
    done
    port=$(grep -o "listening on udp:127.0.0.1:[0-9]*" "$log" | head -1 | sed 's/.*://')
    sleep 5
    local before after
    before=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    for _ in $(seq 1 100); do
        "$BIN" notify "udp:127.0.0.1:$port" --timeout 2 >/dev/null 2>&1 || true
    done
    sleep 1
    after=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$before $after"
}

say "idle RSS (5 s after start, then after 100 check-syncs)"
read -r rss rss_after < <(idle_rss "$BIN" now)
rows=("| this tree | $(size_of "$WORK/sip-resync") | $rss kB | $rss_after kB |")
if [ -n "${FOOTPRINT_BEFORE:-}" ]; then
    strip -o "$WORK/before" "$FOOTPRINT_BEFORE"
    read -r brss brss_after < <(idle_rss "$FOOTPRINT_BEFORE" before)
    rows=("| before ($FOOTPRINT_BEFORE) | $(size_of "$WORK/before") | $brss kB | $brss_after kB |" "${rows[@]}")
fi

say "core: clean debug build in a fresh target directory"
core_target="$WORK/core-target"
start=$(date +%s.%N)
CARGO_TARGET_DIR="$core_target" cargo build -p sip-resync-core --lib --locked --quiet
end=$(date +%s.%N)
core_secs=$(echo "$end - $start" | bc)
core_crates=$(cargo tree -p sip-resync-core -e normal --prefix none --format '{p}' --locked | awk '{print $1}' | sort -u | grep -c .)
agent_crates=$(cargo tree -p sip-resync -e normal --prefix none --format '{p}' --locked | awk '{print $1}' | sort -u | grep -c .)

{
    echo "# Footprint"
    echo
    echo "Measured by \`scripts/footprint.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "| build | stripped binary (bytes) | idle RSS | RSS after 100 NOTIFYs |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "| what | figure |"
    echo "|---|---|"
    echo "| \`embedded_min\` (core only), stripped | $(size_of "$WORK/embedded_min") bytes |"
    echo "| core clean build (debug, with its dependencies) | ${core_secs} s |"
    echo "| crates in the core's dependency tree (itself included) | $core_crates |"
    echo "| crates in the agent's dependency tree | $agent_crates |"
} | tee "$OUT/results.md"
