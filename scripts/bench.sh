#!/usr/bin/env bash
# Measures sip-resync's UDP NOTIFY path side by side with two raw UDP echo servers (the
# ceilings: one call per datagram, and batched recvmmsg/sendmmsg) and Kamailio, on loopback,
# with one load generator (examples/loadgen.rs), and cross-checks sip-resync with SIPp.
#
# Two things are measured apart, and labelled so:
#   capacity  sip-resync with every rate limit off (benches/sip-resync-capacity.toml): one
#             load generator is one source, which the default per-source limit (50/s) would
#             otherwise cut to its budget.
#   policy    sip-resync with the default limits (benches/sip-resync.toml): what one source
#             gets through, and what refusing the rest costs.
# Every row has the server's CPU per answered NOTIFY: its user plus system time over the
# measurement, divided by the replies the generator received.
#
# BENCH_BEFORE=/path/to/an/older/sip-resync adds that binary's capacity rows, measured in the
# same run (for before/after ratios). BENCH_VARIANTS="NAME=/path/to/sip-resync ..." adds a
# capacity row at window 64 for each other build of this tree (release profiles compared side
# by side: scripts/profiles.sh). Writes:
#
#   target/bench/results.jsonl   every measurement, raw (loadgen JSON, RSS, CPU, load average)
#   target/bench/results.csv     the same as a table
#   target/bench/sipp-*/         SIPp's own logs and response times
#   docs/benchmarks-results.md   the tables of this run
#   docs/benchmarks.svg          p99 latency against achieved rate, per server
#
# Usage: scripts/bench.sh            (about 6 minutes; BENCH_SECONDS=5 per measurement)
#        BENCH_SECONDS=2 scripts/bench.sh   (a quicker, noisier run)
#
# Installs Kamailio (Debian package kamailio) when it is missing, and fails loudly when it
# cannot. Needs sipp (Debian package sip-tester) and python3. Every process it starts is
# stopped when it exits, however it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

SECONDS_PER_RUN="${BENCH_SECONDS:-5}"
WINDOWS=(1 4 16 64)
SIPP_RATES=(1000 5000)
TIMEOUT_MS=500
OUT="$ROOT/target/bench"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$CARGO_TARGET_DIR/release"
LOADGEN="$BIN/examples/loadgen"
CLK_TCK="$(getconf CLK_TCK)"
NPROC="$(nproc)"

say() { echo "bench.sh: $*" >&2; }
die() { echo "bench.sh: FAILED: $*" >&2; exit 1; }

# --- processes: everything started here is stopped on exit ------------------------------
STARTED=()
RUNDIR=""
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED[@]}"; do
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    [ -n "$RUNDIR" ] && rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops one server started by start_server, and forgets it.
stop_server() {
    local pid="$1" keep=() p
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${STARTED[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    STARTED=("${keep[@]}")
}

# --- prerequisites -------------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is needed for the report"
SIPP="$(command -v sipp || true)"
[ -n "$SIPP" ] || die "sipp is missing: install the Debian package sip-tester (scripts/test.sh does)"

KAMAILIO="$(command -v kamailio || true)"
[ -z "$KAMAILIO" ] && [ -x /usr/sbin/kamailio ] && KAMAILIO=/usr/sbin/kamailio
if [ -z "$KAMAILIO" ]; then
    say "Kamailio is missing; installing the Debian package kamailio"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
    command -v apt-get >/dev/null || die "apt-get is not available; install kamailio by hand"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >&2 || die "apt-get update failed"
    $SUDO apt-get install -y -qq kamailio >&2 || die "cannot install the Debian package kamailio"
    KAMAILIO="$(command -v kamailio || echo /usr/sbin/kamailio)"
    [ -x "$KAMAILIO" ] || die "kamailio was installed but no kamailio binary was found"
fi
"$KAMAILIO" -c -f benches/kamailio.cfg -A CHILDREN="$NPROC" >/dev/null 2>&1 \
    || die "benches/kamailio.cfg does not load: $("$KAMAILIO" -c -f benches/kamailio.cfg 2>&1 | tail -3)"

say "building sip-resync and the examples (release)"
cargo build --release --locked --bin sip-resync --example loadgen --example udp_echo \
    --example udp_echo_batched >&2
BEFORE="${BENCH_BEFORE:-}"
[ -z "$BEFORE" ] || [ -x "$BEFORE" ] || die "BENCH_BEFORE=$BEFORE is not an executable"

rm -rf "$OUT"
mkdir -p "$OUT"
RUNDIR="$(mktemp -d)"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

# --- helpers -------------------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The process and all its descendants (Kamailio forks its workers).
tree() {
    local c
    echo "$1"
    for c in $(pgrep -P "$1" || true); do tree "$c"; done
}

# Sum over the tree of a /proc field: rss (VmRSS, kB), pss (kB), cpu (utime+stime, ticks).
sum_tree() {
    local what="$1" pid="$2" total=0 v p
    for p in $(tree "$pid"); do
        case "$what" in
            rss) v="$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)" ;;
            pss) v="$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || true)" ;;
            cpu) v="$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true)" ;;
        esac
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

count_procs() { tree "$1" | wc -l; }

# The kernel's count of datagrams dropped at the sockets bound to 127.0.0.1:PORT (their
# receive buffers were full), from /proc/net/udp: summed, as SO_REUSEPORT workers each have one.
udp_drops() {
    awk -v key="0100007F:$(printf '%04X' "$1")" '$2 == key { total += $NF }
        END { print total + 0 }' /proc/net/udp
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# Appends one JSON record to the results.
record() { echo "$1" >>"$RESULTS"; }

# Waits until the server at PORT answers a NOTIFY (at most 10 s).
wait_ready() {
    local port="$1" pid="$2"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        if "$LOADGEN" "127.0.0.1:$port" --count 1 --timeout-ms 100 --json 2>/dev/null \
            | grep -q '"answered":1,'; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

SERVER_PID=""
SERVER_PORT=""
# start_server NAME LOGFILE COMMAND...: starts it on a free port ({PORT} in the arguments).
start_server() {
    local name="$1" log="$2"
    shift 2
    SERVER_PORT="$(free_port)"
    local args=() a
    for a in "$@"; do args+=("${a//\{PORT\}/$SERVER_PORT}"); done
    "${args[@]}" >"$log" 2>&1 &
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    wait_ready "$SERVER_PORT" "$SERVER_PID" \
        || die "$name did not answer on udp:127.0.0.1:$SERVER_PORT; its log ($log): $(tail -5 "$log")"
    sleep 1
    record "{\"kind\":\"idle\",\"server\":\"$name\",\"processes\":$(count_procs "$SERVER_PID"),\"rss_kb\":$(sum_tree rss "$SERVER_PID"),\"pss_kb\":$(sum_tree pss "$SERVER_PID")}"
    say "$name: pid $SERVER_PID on udp:127.0.0.1:$SERVER_PORT, idle VmRSS $(sum_tree rss "$SERVER_PID") kB"
}

# load NAME LOADGEN-ARGS...: one measurement against the running server.
load() {
    local name="$1"
    shift
    local sample="$RUNDIR/rss" cpu0 cpu1 drops0 drops1 la0 json
    (sleep "$(python3 -c "print($SECONDS_PER_RUN * 0.6)")"
        echo "$(sum_tree rss "$SERVER_PID") $(sum_tree pss "$SERVER_PID")" >"$sample") &
    local sampler=$!
    cpu0="$(sum_tree cpu "$SERVER_PID")"
    drops0="$(udp_drops "$SERVER_PORT")"
    la0="$(loadavg)"
    json="$("$LOADGEN" "127.0.0.1:$SERVER_PORT" "$@" --duration "$SECONDS_PER_RUN" \
        --timeout-ms "$TIMEOUT_MS" --json --label "$name")"
    cpu1="$(sum_tree cpu "$SERVER_PID")"
    drops1="$(udp_drops "$SERVER_PORT")"
    wait "$sampler" || true
    read -r rss pss <"$sample"
    record "{\"kind\":\"load\",\"server\":\"$name\",\"rss_kb\":$rss,\"pss_kb\":$pss,\"server_cpu_s\":$(python3 -c "print(($cpu1 - $cpu0) / $CLK_TCK)"),\"server_drops\":$((drops1 - drops0)),\"loadavg_before\":\"$la0\",\"result\":$json}"
    say "$name $*: $(echo "$json" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.0f/s lost %d p50 %s us p99 %s us" % (r["rate"], r["lost"], r["p50_us"], r["p99_us"]))')"
}

windows() {
    local name="$1" w
    for w in "${WINDOWS[@]}"; do load "$name" --window "$w"; done
}

# --- the machine ---------------------------------------------------------------------------
CPU_MODEL="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
record "{\"kind\":\"machine\",\"nproc\":$NPROC,\"cpu\":\"$CPU_MODEL\",\"kernel\":\"$(uname -sr)\",\"loadavg\":\"$(loadavg)\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"seconds_per_run\":$SECONDS_PER_RUN,\"timeout_ms\":$TIMEOUT_MS,\"kamailio\":\"$("$KAMAILIO" -v 2>/dev/null | head -1 | sed 's/"/\\"/g')\",\"sipp\":\"$("$SIPP" -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1)\"}"
say "$NPROC x $CPU_MODEL, $(uname -sr), load average $(loadavg)"

# --- (a) the ceilings: raw UDP echo servers, one thread per core --------------------------
# The reply size is the size of sip-resync's 200 OK to the generator's NOTIFY.
start_server udp-echo "$OUT/udp-echo.log" "$BIN/examples/udp_echo" "127.0.0.1:{PORT}" \
    --reply-bytes 300 --threads "$NPROC"
windows udp-echo
# It stays up, idle, for its open-loop run at the end.
ECHO_PID="$SERVER_PID"
ECHO_PORT="$SERVER_PORT"

start_server udp-echo-batched "$OUT/udp-echo-batched.log" "$BIN/examples/udp_echo_batched" \
    "127.0.0.1:{PORT}" --reply-bytes 300 --threads "$NPROC"
windows udp-echo-batched
ECHOB_PID="$SERVER_PID"
ECHOB_PORT="$SERVER_PORT"

# --- (b) sip-resync, capacity: every rate limit off ----------------------------------------
start_server sip-resync "$OUT/sip-resync.log" \
    "$BIN/sip-resync" run --config benches/sip-resync-capacity.toml --listen "udp:127.0.0.1:{PORT}"
windows sip-resync
# The highest zero-loss rate sip-resync reached; half of it is the open-loop test rate.
HALF_RATE="$(python3 - "$RESULTS" <<'EOF'
import json, sys
rates = [r["result"]["rate"] for r in map(json.loads, open(sys.argv[1]))
         if r.get("kind") == "load" and r["server"] == "sip-resync" and r["result"]["lost"] == 0]
print(int(max(rates) / 2) if rates else 1000)
EOF
)"
say "half of sip-resync's highest zero-loss rate: $HALF_RATE/s"
load sip-resync --rate "$HALF_RATE"

# --- (d) SIPp against the same sip-resync ---------------------------------------------------
for rate in "${SIPP_RATES[@]}" "$HALF_RATE"; do
    dir="$OUT/sipp-$rate"
    mkdir -p "$dir"
    calls=$((rate * SECONDS_PER_RUN))
    cpu0="$(sum_tree cpu "$SERVER_PID")"
    t0="$(date +%s.%N)"
    set +e
    (cd "$dir" && timeout $((SECONDS_PER_RUN + 30)) "$SIPP" "127.0.0.1:$SERVER_PORT" \
        -sf "$ROOT/fixtures/sipp/notify_ok.xml" -t u1 -i 127.0.0.1 -p "$(free_port)" -bind_local \
        -cp "$(free_port)" -r "$rate" -m "$calls" -nostdin -timeout $((SECONDS_PER_RUN + 20))s \
        -recv_timeout "$TIMEOUT_MS" -default_behaviors all,-bye \
        -trace_rtt -rtt_freq 1000 -trace_stat -stf stat.csv -trace_screen -screen_file screen.log \
        >stdout.log 2>&1)
    rc=$?
    set -e
    t1="$(date +%s.%N)"
    cpu1="$(sum_tree cpu "$SERVER_PID")"
    rtt="$(ls "$dir"/*_rtt.csv 2>/dev/null | head -1)"
    record "{\"kind\":\"sipp\",\"server\":\"sip-resync\",\"rate\":$rate,\"calls\":$calls,\"exit\":$rc,\"wall_s\":$(python3 -c "print($t1 - $t0)"),\"server_cpu_s\":$(python3 -c "print(($cpu1 - $cpu0) / $CLK_TCK)"),\"rtt_file\":\"${rtt#"$ROOT"/}\",\"rss_kb\":$(sum_tree rss "$SERVER_PID")}"
    say "SIPp at $rate/s: exit $rc"
done
stop_server "$SERVER_PID"

# --- sip-resync, policy: the default limits, one source, window 64 ---------------------------
start_server sip-resync-policy "$OUT/sip-resync-policy.log" \
    "$BIN/sip-resync" run --config benches/sip-resync.toml --listen "udp:127.0.0.1:{PORT}"
load sip-resync-policy --window 64
stop_server "$SERVER_PID"

# --- an older sip-resync, capacity, for before/after ratios ---------------------------------
if [ -n "$BEFORE" ]; then
    start_server sip-resync-before "$OUT/sip-resync-before.log" \
        "$BEFORE" run --config benches/sip-resync-capacity.toml --listen "udp:127.0.0.1:{PORT}"
    windows sip-resync-before
    load sip-resync-before --rate "$HALF_RATE"
    stop_server "$SERVER_PID"
fi

# --- other builds of this tree (release profiles), capacity, window 64 ----------------------
for variant in ${BENCH_VARIANTS:-}; do
    vname="${variant%%=*}"
    vbin="${variant#*=}"
    [ -x "$vbin" ] || die "BENCH_VARIANTS: $vbin is not an executable"
    start_server "sip-resync-variant-$vname" "$OUT/sip-resync-variant-$vname.log" \
        "$vbin" run --config benches/sip-resync-capacity.toml --listen "udp:127.0.0.1:{PORT}"
    load "sip-resync-variant-$vname" --window 64
    stop_server "$SERVER_PID"
done

# --- (c) Kamailio, stateless, one UDP worker per core ---------------------------------------
# With the TLSF allocator for private and shared memory (-X, -x): Debian's build defaults to
# the debugging allocator qm, which costs Kamailio most of its speed here (measured below).
start_server kamailio "$OUT/kamailio.log" "$KAMAILIO" -f benches/kamailio.cfg -DD -E \
    -l "udp:127.0.0.1:{PORT}" -A CHILDREN="$NPROC" -Y "$RUNDIR" -x tlsf -X tlsf
windows kamailio
load kamailio --rate "$HALF_RATE"
stop_server "$SERVER_PID"

# The same with Debian's defaults (the qm allocator), at window 64 only.
start_server kamailio-qm "$OUT/kamailio-qm.log" "$KAMAILIO" -f benches/kamailio.cfg -DD -E \
    -l "udp:127.0.0.1:{PORT}" -A CHILDREN="$NPROC" -Y "$RUNDIR"
load kamailio-qm --window 64
stop_server "$SERVER_PID"

# The ceilings at the same open-loop rate, for the ratio.
SERVER_PID="$ECHOB_PID"
SERVER_PORT="$ECHOB_PORT"
load udp-echo-batched --rate "$HALF_RATE"
stop_server "$SERVER_PID"
SERVER_PID="$ECHO_PID"
SERVER_PORT="$ECHO_PORT"
load udp-echo --rate "$HALF_RATE"
stop_server "$SERVER_PID"

record "{\"kind\":\"end\",\"loadavg\":\"$(loadavg)\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
python3 scripts/bench_report.py "$RESULTS" --csv "$OUT/results.csv" \
    --markdown docs/benchmarks-results.md --svg docs/benchmarks.svg
say "done: docs/benchmarks-results.md, docs/benchmarks.svg, $OUT/results.csv"
