#!/usr/bin/env bash
# Counts the wake-ups the daemon's NOTIFY path costs: CPU time, context switches and the
# futex / epoll_wait / write system calls of the server process per reply, while
# examples/loadgen keeps 64 NOTIFYs outstanding for 6 s, with every rate limit off and one
# provisioning file configured (so that every NOTIFY is a trigger for the engine).
#
# Usage: scripts/wakeups.sh [BIN ...]   (default: target/release/sip-resync; give an older
#        build too, e.g. from a worktree, to compare them side by side in one run)
# Needs perf with access to the syscall tracepoints (root, or perf_event_paranoid <= 1).
# Targets 127.0.0.1 only; every process it starts is stopped when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --bin sip-resync --example loadgen
LOADGEN=target/release/examples/loadgen
[ "$#" -gt 0 ] || set -- target/release/sip-resync
WORK="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill -INT "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
printf '# Panasonic SIP Phone Standard Format File #\r\nCFG_CYCLIC="N"\r\n' > "$WORK/a.cfg"
PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/agent.toml" <<TOML
[sip]
listen = ["udp:127.0.0.1:$PORT"]
[sip.limits]
requests_per_second_per_source = 0
requests_per_second = 0
triggers_per_minute_per_source = 0
triggers_per_minute = 0
[provisioning]
files = [{ url = "file://$WORK/a.cfg", format = "panasonic" }]
state_dir = "$WORK/state"
TOML
printf '%-40s %10s %14s %12s %12s %12s\n' build "replies/s" "CPU/reply µs" "futex/1k" "ctxsw/1k" "write/1k"
for bin in "$@"; do
    rm -rf "$WORK/state"
    "$bin" run --config "$WORK/agent.toml" > "$WORK/agent.log" 2>&1 &
    PID=$!
    sleep 1
    "$LOADGEN" "127.0.0.1:$PORT" --window 64 --duration 6 --json > "$WORK/load.json" &
    LG=$!
    sleep 1
    perf stat -x, -e task-clock,context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_write \
        -p "$PID" -- sleep 4 2> "$WORK/perf.csv"
    wait "$LG"
    kill -INT "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    python3 - "$bin" "$WORK/load.json" "$WORK/perf.csv" <<'PY'
import json, sys
bin_, load, perf = sys.argv[1:]
rate = json.load(open(load))["rate"]
counts = {}
for line in open(perf):
    f = line.strip().split(",")
    if len(f) > 3 and f[0][:1].isdigit():
        counts[f[2]] = float(f[0])
replies = rate * 4  # perf watched 4 s of the load
per_k = lambda k: counts.get(k, 0.0) * 1000 / replies
print(f"{bin_[-40:]:<40} {rate:>10.0f} {counts['task-clock'] * 1000 / replies:>14.2f} "
      f"{per_k('syscalls:sys_enter_futex'):>12.0f} {per_k('context-switches'):>12.0f} "
      f"{per_k('syscalls:sys_enter_write'):>12.0f}")
PY
done
