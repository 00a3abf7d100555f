#!/usr/bin/env bash
# The flood check of docs/security.md: the release daemon, fetching from a real HTTP server on
# loopback, takes a 10 s flood of valid check-sync NOTIFYs from an allowed source at the
# highest rate the load generator reaches, while 1,000 idle TCP connections are held open and
# a second source (127.0.0.2) sends one NOTIFY at a time to see whether UDP is still answered.
#
# Printed: the offered rate, the daemon's answers, the number of fetches (GETs at the HTTP
# server), the daemon's VmRSS before and after, the probe's answered/lost counts and latency.
# Two rounds: the default rate limits, then every limit off (0), so that the bounded tables
# alone hold memory and the engine alone holds the fetches.
#
# A third round runs three times as long with the limits off, to show memory levels off.
# Usage: scripts/flood.sh [SECONDS]   (default 10). Loopback only; stops by itself.
# Needs python3 (the HTTP server and the idle connections).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
IDLE=1000
ulimit -n 8192 2>/dev/null || ulimit -n 4096

cargo build --release --locked --bin sip-resync --example loadgen >&2
BIN=target/release/sip-resync
LOADGEN=target/release/examples/loadgen
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

mkdir -p "$WORK/www"
printf '# Panasonic SIP Phone Standard Format File #\r\nCFG_RESYNC_FROM_SIP="check-sync"\r\n' >"$WORK/www/master.cfg"
HTTP_PORT="$(free_port)"
python3 -u -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$HTTP_PORT" 2>"$WORK/http.log" >/dev/null &
PIDS+=($!)

round() {
  local label="$1" secs="$2" limits="$3"
  local port; port="$(free_port)"
  cat >"$WORK/agent.toml" <<EOF
[sip]
listen = ["udp:127.0.0.1:$port", "tcp:127.0.0.1:$port"]
allow = ["127.0.0.0/8"]
[sip.tcp]
max_connections = 2000
[sip.limits]
$limits
[provisioning]
state_dir = "$WORK/state-$label"
files = [{ url = "http://127.0.0.1:$HTTP_PORT/master.cfg" }]
fetch_at_startup = false
EOF
  : >"$WORK/http.log"
  RUST_LOG=info "$BIN" run --config "$WORK/agent.toml" 2>"$WORK/daemon-$label.log" &
  local daemon=$!
  PIDS+=("$daemon")
  for _ in $(seq 100); do grep -q "listening on tcp" "$WORK/daemon-$label.log" && break; sleep 0.05; done

  # 1,000 idle TCP connections, held until the flood is over.
  python3 - "$port" "$IDLE" "$((secs + 60))" >"$WORK/idle.txt" <<'PY' &
import socket, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    conns.append(s)
print(f"idle_tcp_open={len(conns)}", flush=True)
time.sleep(hold)
PY
  local idle=$!
  PIDS+=("$idle")
  for _ in $(seq 300); do grep -q idle_tcp_open "$WORK/idle.txt" && break; sleep 0.1; done
  sleep 1
  local established
  established="$(ss -Htn state established "( sport = :$port )" | wc -l)"
  local before; before="$(rss_kb "$daemon")"

  "$LOADGEN" "127.0.0.1:$port" --bind 127.0.0.2:0 --window 1 --duration "$secs" --label probe >"$WORK/probe.txt" &
  local probe=$!
  "$LOADGEN" "127.0.0.1:$port" --rate 2000000 --duration "$secs" --timeout-ms 200 --label flood >"$WORK/flood.txt"
  wait "$probe"
  local still; still="$(ss -Htn state established "( sport = :$port )" | wc -l)"
  sleep 3
  local after; after="$(rss_kb "$daemon")"
  # The run budget (3 at once, one back every 20 s by default) starts the follow-up that
  # answers the flood's end up to 20 s after the previous run: wait until no run has ended for
  # 25 s (at most 90 s).
  local waited=0 quiet=0 seen=-1 now_runs
  while [ "$quiet" -lt 25 ] && [ "$waited" -lt 90 ]; do
    now_runs="$(grep -c 'sip_resync::engine: run ' "$WORK/daemon-$label.log" || true)"
    if [ "$now_runs" != "$seen" ]; then seen="$now_runs"; quiet=0; else quiet=$((quiet + 1)); fi
    sleep 1; waited=$((waited + 1))
  done
  local gets; gets="$(grep -c 'GET /master.cfg' "$WORK/http.log" || true)"
  local runs; runs="$(grep -c 'sip_resync::engine: run ' "$WORK/daemon-$label.log" || true)"
  kill "$idle" 2>/dev/null || true
  kill -TERM "$daemon"
  wait "$daemon" || true

  echo "== $label, ${secs} s: $limits"
  echo "idle TCP connections established at the daemon: $established before the flood, $still after it"
  echo "flood:  $(cat "$WORK/flood.txt")"
  echo "probe:  $(cat "$WORK/probe.txt")"
  echo "fetches (GETs at the HTTP server): $gets; provisioning runs: $runs"
  echo "VmRSS before: ${before} kB, after: ${after} kB, growth: $((after - before)) kB"
  echo "daemon's closing line: $(grep ' stopped' "$WORK/daemon-$label.log" | tail -1 | sed 's/^.*INFO //')"
}

UNLIMITED="requests_per_second_per_source = 0
requests_per_second = 0
triggers_per_minute_per_source = 0
triggers_per_minute = 0"
round limited "$SECS" "# the defaults"
round unlimited "$SECS" "$UNLIMITED"
# Three times as long: the tables are full after the first seconds, so memory must not grow
# with the length of the flood.
round unlimited-long "$((SECS * 3))" "$UNLIMITED"
