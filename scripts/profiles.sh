#!/usr/bin/env bash
# Builds the `sip-resync` binary under other release profiles and compares them side by side
# with the shipped one: stripped size here, and the NOTIFY rate and CPU per reply at window 64
# through scripts/bench.sh (BENCH_VARIANTS), in the same run as the shipped build and Kamailio.
#
#   scripts/profiles.sh                 # builds, measures sizes, then runs scripts/bench.sh
#   PROFILES_NO_BENCH=1 scripts/profiles.sh   # sizes only
#
# The shipped profile is [profile.release] in Cargo.toml (fat LTO, one codegen unit,
# opt-level "s"). The others override it through cargo's environment:
#   opt3           no LTO, 16 codegen units, opt-level 3 (cargo's defaults)
#   opt3-lto-thin  thin LTO, 16 codegen units, opt-level 3
#   opt3-lto-fat   fat LTO, one codegen unit, opt-level 3
# Each builds in its own target directory (target/profiles/NAME), so the shipped build is
# untouched. Writes target/profiles/sizes.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="$ROOT/target/profiles"
mkdir -p "$OUT"

declare -A ENVS=(
    [opt3]="CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=3"
    [opt3-lto-thin]="CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=3"
    [opt3-lto-fat]="CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_OPT_LEVEL=3"
)
# PROFILES="opt3 opt3-lto-thin opt3-lto-fat" picks others; the default compares the two ends.
read -r -a ORDER <<<"${PROFILES:-opt3 opt3-lto-fat}"

say() { echo "profiles.sh: $*" >&2; }
cargo build --release --locked --quiet -p sip-resync-cli --bin sip-resync
variants=()
{
    echo "| profile | stripped sip-resync (bytes) | release build (s) |"
    echo "|---|---:|---:|"
    echo "| shipped ([profile.release] in Cargo.toml: fat LTO, 1 unit, opt-level s) | $(stat -c %s target/release/sip-resync) | — |"
} >"$OUT/sizes.md"
for name in "${ORDER[@]}"; do
    say "building with $name (${ENVS[$name]})"
    start=$(date +%s)
    env ${ENVS[$name]} CARGO_TARGET_DIR="$OUT/$name" \
        cargo build --release --locked --quiet -p sip-resync-cli --bin sip-resync
    secs=$(( $(date +%s) - start ))
    bin="$OUT/$name/release/sip-resync"
    echo "| $name | $(stat -c %s "$bin") | $secs |" >>"$OUT/sizes.md"
    variants+=("$name=$bin")
done
cat "$OUT/sizes.md"
if [ -z "${PROFILES_NO_BENCH:-}" ]; then
    BENCH_VARIANTS="${variants[*]}" scripts/bench.sh
fi
