#!/usr/bin/env bash
# Checks that the core crate (crates/core, sip-resync-core) stays what its lib.rs says: it
# builds alone, its normal dependency tree holds no runtime, HTTP, TLS, socket, plotting or
# command-line crate, and its module graph has no cycle and no import against the layers
# (scripts/module-graph.py). Run by scripts/test.sh, so by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Crates the core must never pull in, as normal (non-dev) dependencies.
FORBIDDEN='^(tokio|tokio-[a-z-]+|mio|reqwest|hyper|hyper-[a-z-]+|h2|rustls|rustls-[a-z-]+|aws-lc-rs|aws-lc-sys|ring|openssl|openssl-sys|nix|libc-tokio|socket2|plotters|plotters-[a-z-]+|clap|clap_[a-z]+|tracing-subscriber)$'

echo "check-core: building sip-resync-core alone" >&2
cargo build -p sip-resync-core --lib --locked --quiet

tree=$(cargo tree -p sip-resync-core -e normal --prefix none --format '{p}' --locked | awk '{print $1}' | sort -u)
count=$(printf '%s\n' "$tree" | grep -c .)
bad=$(printf '%s\n' "$tree" | grep -E "$FORBIDDEN" || true)
if [ -n "$bad" ]; then
    echo "check-core: FAILED: the core's dependency tree holds: $(echo $bad)" >&2
    cargo tree -p sip-resync-core -e normal -i "$(printf '%s\n' "$bad" | head -1)" >&2 || true
    exit 1
fi
echo "check-core: dependency tree: $count crates, none of tokio, reqwest, hyper, rustls, aws-lc-rs, nix, plotters, clap, tracing-subscriber" >&2

python3 scripts/module-graph.py crates/core/src
