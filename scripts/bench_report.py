#!/usr/bin/env python3
"""Turns the measurements of scripts/bench.sh into a CSV, markdown tables and an SVG plot.

    python3 scripts/bench_report.py target/bench/results.jsonl \
        --csv target/bench/results.csv --markdown docs/benchmarks-results.md \
        --svg docs/benchmarks.svg

Standard library only. The SVG is written by hand: p99 latency (log scale) against the
achieved rate, one colour per server; closed-loop points (windows 1, 4, 16, 64) are joined
by a line, open-loop points (a fixed offered rate) are squares, SIPp's are triangles.
"""

import argparse
import csv
import json
import math
import os
import sys

CEILING = "udp-echo"
KAMAILIO = "kamailio"
ORDER = [
    "udp-echo",
    "udp-echo-batched",
    "sip-resync",
    "sip-resync-policy",
    "sip-resync-before",
    "kamailio",
    "kamailio-qm",
]
NAMES = {
    "udp-echo": "UDP echo (ceiling, a call per datagram)",
    "udp-echo-batched": "UDP echo, batched (ceiling, recvmmsg/sendmmsg)",
    "sip-resync": "sip-resync, capacity (limits off)",
    "sip-resync-policy": "sip-resync, policy (default limits)",
    "sip-resync-before": "sip-resync before this change, capacity",
    "kamailio": "Kamailio, stateless, tlsf",
    "kamailio-qm": "Kamailio, stateless, qm (Debian default)",
}
COLOURS = {
    "udp-echo": "#7f7f7f",
    "udp-echo-batched": "#2ca02c",
    "sip-resync": "#d62728",
    "sip-resync-policy": "#9467bd",
    "sip-resync-before": "#ff7f0e",
    "kamailio": "#1f77b4",
    "kamailio-qm": "#17becf",
}


def cpu_per_reply_us(cpu_s, answered):
    """Server CPU (user + system) per answered request, in microseconds."""
    if not answered or cpu_s is None:
        return float("nan")
    return cpu_s / answered * 1e6


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def sipp_stats(root, rec):
    """Response times and counts of one SIPp run, from its -trace_rtt file."""
    rtts, dates = [], []
    path = os.path.join(root, rec.get("rtt_file") or "")
    if rec.get("rtt_file") and os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.strip().split(";")
                if len(parts) < 2:
                    continue
                try:
                    dates.append(float(parts[0]))
                    rtts.append(float(parts[1]) * 1000.0)  # ms -> us
                except ValueError:
                    continue  # the header line
    rtts.sort()
    steps = sorted({v / 1000.0 for v in rtts})
    answered = len(rtts)
    span = (max(dates) - min(dates)) / 1000.0 if len(dates) > 1 else rec["wall_s"]
    return {
        "answered": answered,
        "lost": rec["calls"] - answered,
        "rate": answered / span if span > 0 else float("nan"),
        "p50_us": pct(rtts, 50),
        "p99_us": pct(rtts, 99),
        "p999_us": pct(rtts, 99.9),
        "max_us": rtts[-1] if rtts else float("nan"),
        "steps_ms": steps,
    }


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    rank = math.ceil(p / 100.0 * len(sorted_values) - 1e-9)  # nearest rank, as loadgen
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def fmt(x, digits=0):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def ms(us):
    if us is None or (isinstance(us, float) and math.isnan(us)):
        return "–"
    return f"{us / 1000:,.2f} ms" if us < 1000 else f"{us / 1000:,.1f} ms"


def ratio(a, b):
    if not a or not b or math.isnan(a) or math.isnan(b):
        return "–"
    return f"{a / b:.2f}×"


def add_variants(records):
    """Other builds of this tree (BENCH_VARIANTS) join the tables after the before row."""
    at = ORDER.index("sip-resync-before") + 1
    for r in records:
        name = r.get("server", "")
        if name.startswith("sip-resync-variant-") and name not in ORDER:
            ORDER.insert(at, name)
            at += 1
            NAMES[name] = "sip-resync, release profile " + name[len("sip-resync-variant-"):] + ", capacity"
            COLOURS[name] = "#8c564b"


def rows_of(records):
    """One flat row per measurement."""
    idle = {r["server"]: r for r in records if r["kind"] == "idle"}
    rows = []
    for r in records:
        if r["kind"] == "load":
            res = r["result"]
            elapsed = res["elapsed_s"] or float("nan")
            cores = r["server_cpu_s"] / elapsed if elapsed else float("nan")
            rows.append(
                {
                    "server": r["server"],
                    "tool": "loadgen",
                    "mode": res["mode"],
                    "window": res["window"],
                    "offered_rate": res["offered_rate"],
                    "rate": res["rate"],
                    "sent": res["sent"],
                    "answered": res["answered"],
                    "lost": res["lost"],
                    "p50_us": res["p50_us"],
                    "p99_us": res["p99_us"],
                    "p999_us": res["p999_us"],
                    "max_us": res["max_us"],
                    "reply_bytes": res.get("reply_bytes"),
                    "server_cpu_s": r["server_cpu_s"],
                    "server_drops": r.get("server_drops"),
                    "own_drops": res.get("own_drops"),
                    "server_cores_busy": cores,
                    "per_server_core": res["rate"] / cores if cores else float("nan"),
                    "cpu_per_reply_us": cpu_per_reply_us(r["server_cpu_s"], res["answered"]),
                    "rss_load_kb": r["rss_kb"],
                    "pss_load_kb": r["pss_kb"],
                    "rss_idle_kb": idle.get(r["server"], {}).get("rss_kb"),
                    "pss_idle_kb": idle.get(r["server"], {}).get("pss_kb"),
                    "loadavg_before": r["loadavg_before"],
                }
            )
    return rows


def sipp_rows(root, records):
    rows = []
    for r in records:
        if r["kind"] != "sipp":
            continue
        s = sipp_stats(root, r)
        cores = r["server_cpu_s"] / r["wall_s"] if r["wall_s"] else float("nan")
        rows.append(
            {
                "server": r["server"],
                "tool": "sipp",
                "mode": "rate",
                "window": None,
                "offered_rate": r["rate"],
                "rate": s["rate"],
                "sent": r["calls"],
                "answered": s["answered"],
                "lost": s["lost"],
                "p50_us": s["p50_us"],
                "p99_us": s["p99_us"],
                "p999_us": s["p999_us"],
                "max_us": s["max_us"],
                "reply_bytes": None,
                "server_cpu_s": r["server_cpu_s"],
                "server_cores_busy": cores,
                "per_server_core": s["rate"] / cores if cores else float("nan"),
                "cpu_per_reply_us": cpu_per_reply_us(r["server_cpu_s"], s["answered"]),
                "rss_load_kb": r["rss_kb"],
                "pss_load_kb": None,
                "rss_idle_kb": None,
                "pss_idle_kb": None,
                "loadavg_before": None,
                "sipp_exit": r["exit"],
                "rtt_steps_ms": s["steps_ms"],
            }
        )
    return rows


def write_csv(path, rows):
    fields = [
        "server", "tool", "mode", "window", "offered_rate", "rate", "sent", "answered",
        "lost", "server_drops", "own_drops", "p50_us", "p99_us", "p999_us", "max_us",
        "reply_bytes", "server_cpu_s",
        "server_cores_busy", "per_server_core", "cpu_per_reply_us", "rss_idle_kb", "pss_idle_kb", "rss_load_kb",
        "pss_load_kb", "loadavg_before", "sipp_exit",
    ]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in fields})


def markdown(records, rows, srows):
    machine = next(r for r in records if r["kind"] == "machine")
    end = next((r for r in records if r["kind"] == "end"), {})
    out = []
    out.append("# Benchmark results (generated)\n")
    out.append(
        "Written by `scripts/bench.sh` (through `scripts/bench_report.py`); "
        "[benchmarks.md](benchmarks.md) explains them. Raw data: `target/bench/results.csv`.\n"
    )
    out.append(
        f"- Run: {machine['date']}, {machine['seconds_per_run']} s per measurement, "
        f"loss timeout {machine['timeout_ms']} ms\n"
        f"- Machine: {machine['nproc']} × {machine['cpu']}, {machine['kernel']}; "
        f"load average {machine['loadavg']} at the start, {end.get('loadavg', '?')} at the end\n"
        f"- Peers: {machine['kamailio']}; {machine['sipp']}\n"
    )
    closed = [r for r in rows if r["mode"] == "window"]
    by = {(r["server"], r["window"]): r for r in closed}
    windows = sorted({r["window"] for r in closed})
    out.append("## Closed loop: a window of outstanding NOTIFYs\n")
    out.append(
        "Rate is responses per second within the timeout; ×echo and ×Kamailio are the rate "
        "as a ratio to the ceiling's (one call per datagram) and to Kamailio's (tlsf) at the "
        "same window. CPU/reply is the server's user + system CPU time over the run divided by "
        "the replies received, and ×Kamailio after it the same ratio; server CPU is the cores "
        "its processes kept busy. *Capacity* rows run with every rate limit off (one generator "
        "is one source); the *policy* row runs the default limits, which let 50/s of one "
        "source through (burst 100) and drop the rest unread.\n"
    )
    out.append(
        "| window | server | rate /s | ×echo | ×Kamailio | lost | p50 µs | p99 µs | p99.9 µs "
        "| max µs | CPU/reply µs | CPU ×Kamailio | server CPU (cores) | VmRSS under load |"
    )
    out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w in windows:
        ceil = by.get((CEILING, w))
        kam = by.get((KAMAILIO, w))
        for s in ORDER:
            r = by.get((s, w))
            if not r:
                continue
            out.append(
                f"| {w} | {NAMES[s]} | {fmt(r['rate'])} | {ratio(r['rate'], ceil and ceil['rate'])} "
                f"| {ratio(r['rate'], kam and kam['rate'])} | {r['lost']} | {fmt(r['p50_us'], 1)} "
                f"| {fmt(r['p99_us'], 1)} | {fmt(r['p999_us'], 1)} | {fmt(r['max_us'], 1)} "
                f"| {fmt(r['cpu_per_reply_us'], 1)} "
                f"| {ratio(r['cpu_per_reply_us'], kam and kam['cpu_per_reply_us'])} "
                f"| {fmt(r['server_cores_busy'], 2)} "
                f"| {fmt(r['rss_load_kb'] / 1024, 1)} MiB |"
            )
    opened = [r for r in rows if r["mode"] == "rate"]
    if opened:
        rate = opened[0]["offered_rate"]
        ob = {r["server"]: r for r in opened}
        out.append("\n## Open loop: a fixed offered rate\n")
        out.append(
            f"{fmt(rate)} NOTIFYs per second offered to each server: half of the highest "
            "zero-loss rate sip-resync reached above. ×echo and ×Kamailio (tlsf) compare p99. "
            "Dropped at the server's socket: the kernel's drop counter of the server's UDP "
            "socket (`/proc/net/udp`), i.e. requests that found its receive buffer full.\n"
        )
        out.append(
            "| server | rate /s | lost | of which dropped at the server's socket | p50 µs | p99 µs "
            "| p99 ×echo | p99 ×Kamailio | p99.9 µs | max µs | CPU/reply µs | server CPU (cores) "
            "| VmRSS under load |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in ORDER:
            r = ob.get(s)
            if not r:
                continue
            ceil, kam = ob.get(CEILING), ob.get(KAMAILIO)
            out.append(
                f"| {NAMES[s]} | {fmt(r['rate'])} | {r['lost']} | {r['server_drops']} "
                f"| {fmt(r['p50_us'], 1)} "
                f"| {fmt(r['p99_us'], 1)} | {ratio(r['p99_us'], ceil and ceil['p99_us'])} "
                f"| {ratio(r['p99_us'], kam and kam['p99_us'])} | {fmt(r['p999_us'], 1)} "
                f"| {fmt(r['max_us'], 1)} | {fmt(r['cpu_per_reply_us'], 1)} "
                f"| {fmt(r['server_cores_busy'], 2)} "
                f"| {fmt(r['rss_load_kb'] / 1024, 1)} MiB |"
            )
    if srows:
        out.append("\n## Cross-check: SIPp against sip-resync\n")
        out.append(
            "`fixtures/sipp/notify_ok.xml` at fixed rates (`-r`, `-m` rate × seconds), one call "
            "per NOTIFY, lost = calls that failed (no 200 within `-recv_timeout`, the same "
            "timeout as loadgen's), response times from SIPp's `-trace_rtt`. The loadgen row is "
            "the open-loop run above, at the same rate as the last SIPp run.\n"
        )
        out.append(
            "| tool | offered /s | rate /s | lost | p50 | p99 | p99.9 | max | CPU/reply µs "
            "| server CPU (cores) |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in srows:
            out.append(
                f"| SIPp (exit {r['sipp_exit']}) | {fmt(r['offered_rate'])} | {fmt(r['rate'])} "
                f"| {r['lost']} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | {ms(r['p999_us'])} "
                f"| {ms(r['max_us'])} | {fmt(r['cpu_per_reply_us'], 1)} "
                f"| {fmt(r['server_cores_busy'], 2)} |"
            )
        lg = next((r for r in opened if r["server"] == "sip-resync"), None)
        if lg:
            out.append(
                f"| loadgen | {fmt(lg['offered_rate'])} | {fmt(lg['rate'])} | {lg['lost']} "
                f"| {ms(lg['p50_us'])} | {ms(lg['p99_us'])} | {ms(lg['p999_us'])} "
                f"| {ms(lg['max_us'])} | {fmt(lg['cpu_per_reply_us'], 1)} "
                f"| {fmt(lg['server_cores_busy'], 2)} |"
            )
        steps = sorted({r for s in srows for r in s.get("rtt_steps_ms", [])})
        if steps:
            out.append(
                "\nSIPp's response times are whole milliseconds of its own clock; the values it "
                f"recorded in this run were {', '.join(f'{v:g}' for v in steps[:8])} ms, so its "
                "latency columns only bound the loadgen figures, they do not measure them.\n"
            )
    idle = [r for r in records if r["kind"] == "idle"]
    if idle:
        peak = {}
        for r in rows:
            peak[r["server"]] = max(peak.get(r["server"], 0), r["rss_load_kb"] or 0)
        out.append("\n## Memory\n")
        out.append(
            "VmRSS from `/proc/PID/status`, summed over the server's processes (Kamailio's "
            "workers share memory, so its sum counts shared pages once per process; PSS, "
            "from `/proc/PID/smaps_rollup`, divides them). Idle: 1 s after the first answer. "
            "Under load: the highest sample, taken 60 % into each measurement.\n"
        )
        out.append("| server | processes | VmRSS idle | PSS idle | VmRSS under load (highest) |")
        out.append("|---|---:|---:|---:|---:|")
        for s in ORDER:
            r = next((i for i in idle if i["server"] == s), None)
            if not r:
                continue
            out.append(
                f"| {NAMES[s]} | {r['processes']} | {fmt(r['rss_kb'] / 1024, 1)} MiB "
                f"| {fmt(r['pss_kb'] / 1024, 1)} MiB | {fmt(peak.get(s, 0) / 1024, 1)} MiB |"
            )
    return "\n".join(out) + "\n"


def svg(rows, srows):
    W, H = 880, 480
    left, right, top, bottom = 80, 300, 40, 60
    pw, ph = W - left - right, H - top - bottom
    pts = [r for r in rows + srows if r["p99_us"] and not math.isnan(r["p99_us"]) and r["rate"]]
    # (A SIPp p99 of 0 ms, below its clock step, has no place on a log scale.)
    if not pts:
        return "<svg xmlns='http://www.w3.org/2000/svg'/>\n"
    xmax = max(r["rate"] for r in pts) * 1.08
    step = nice_step(xmax / 6)
    xmax = math.ceil(xmax / step) * step
    ylo = 10 ** math.floor(math.log10(min(r["p99_us"] for r in pts)))
    yhi = 10 ** math.ceil(math.log10(max(r["p99_us"] for r in pts)))
    if yhi <= ylo:
        yhi = ylo * 10

    def x(v):
        return left + pw * v / xmax

    def y(v):
        return top + ph * (1 - (math.log10(v) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)))

    o = []
    o.append(
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' viewBox='0 0 {W} {H}' "
        "font-family='sans-serif' font-size='12'>"
    )
    o.append(f"<rect width='{W}' height='{H}' fill='white'/>")
    o.append(
        f"<text x='{left + pw / 2}' y='22' text-anchor='middle' font-size='15'>"
        "NOTIFY over UDP on loopback: p99 latency against achieved rate</text>"
    )
    # Grid and axes.
    v = 0.0
    while v <= xmax + 1e-9:
        o.append(f"<line x1='{x(v):.1f}' y1='{top}' x2='{x(v):.1f}' y2='{top + ph}' stroke='#e5e5e5'/>")
        o.append(
            f"<text x='{x(v):.1f}' y='{top + ph + 18}' text-anchor='middle'>{v / 1000:g}k</text>"
        )
        v += step
    decade = ylo
    while decade <= yhi * 1.0001:
        for m in (1, 2, 5):
            val = decade * m
            if val > yhi * 1.0001:
                break
            o.append(
                f"<line x1='{left}' y1='{y(val):.1f}' x2='{left + pw}' y2='{y(val):.1f}' "
                f"stroke='{'#d0d0d0' if m == 1 else '#f0f0f0'}'/>"
            )
            if m in (1, 2, 5):
                o.append(
                    f"<text x='{left - 8}' y='{y(val) + 4:.1f}' text-anchor='end'>{label_us(val)}</text>"
                )
        decade *= 10
    o.append(f"<rect x='{left}' y='{top}' width='{pw}' height='{ph}' fill='none' stroke='#333'/>")
    o.append(
        f"<text x='{left + pw / 2}' y='{H - 18}' text-anchor='middle'>achieved rate "
        "(responses per second within the timeout)</text>"
    )
    o.append(
        f"<text x='18' y='{top + ph / 2}' text-anchor='middle' "
        f"transform='rotate(-90 18 {top + ph / 2})'>p99 latency (log scale)</text>"
    )
    # Series.
    legend = []
    for s in ORDER:
        c = COLOURS[s]
        closed = sorted(
            (r for r in rows if r["server"] == s and r["mode"] == "window"), key=lambda r: r["window"]
        )
        closed = [r for r in closed if r["p99_us"] and not math.isnan(r["p99_us"])]
        if closed:
            path = " ".join(f"{x(r['rate']):.1f},{y(r['p99_us']):.1f}" for r in closed)
            o.append(f"<polyline points='{path}' fill='none' stroke='{c}' stroke-width='1.5'/>")
            for r in closed:
                o.append(f"<circle cx='{x(r['rate']):.1f}' cy='{y(r['p99_us']):.1f}' r='4' fill='{c}'/>")
                o.append(
                    f"<text x='{x(r['rate']) + 6:.1f}' y='{y(r['p99_us']) - 6:.1f}' fill='{c}' "
                    f"font-size='10'>w{r['window']}</text>"
                )
            legend.append((s, "circle"))
        for r in rows:
            if r["server"] == s and r["mode"] == "rate" and r["p99_us"] and not math.isnan(r["p99_us"]):
                o.append(
                    f"<rect x='{x(r['rate']) - 4:.1f}' y='{y(r['p99_us']) - 4:.1f}' width='8' "
                    f"height='8' fill='white' stroke='{c}' stroke-width='2'/>"
                )
        for r in srows:
            if r["server"] == s and r["p99_us"] and not math.isnan(r["p99_us"]):
                cx, cy = x(r["rate"]), y(r["p99_us"])
                o.append(
                    f"<polygon points='{cx:.1f},{cy - 5:.1f} {cx - 5:.1f},{cy + 4:.1f} "
                    f"{cx + 5:.1f},{cy + 4:.1f}' fill='white' stroke='{c}' stroke-width='2'/>"
                )
    # Legend.
    lx, ly = left + pw + 16, top + 10
    for i, s in enumerate(s for s in ORDER if any(r["server"] == s for r in rows)):
        yy = ly + i * 20
        o.append(f"<circle cx='{lx + 6}' cy='{yy}' r='4' fill='{COLOURS[s]}'/>")
        o.append(f"<text x='{lx + 16}' y='{yy + 4}'>{NAMES[s]}</text>")
    yy = ly + len(ORDER) * 20 + 10
    o.append(f"<circle cx='{lx + 6}' cy='{yy}' r='4' fill='#555'/>")
    o.append(f"<text x='{lx + 16}' y='{yy + 4}'>loadgen, window wN</text>")
    o.append(
        f"<rect x='{lx + 2}' y='{yy + 16}' width='8' height='8' fill='white' stroke='#555' stroke-width='2'/>"
    )
    o.append(f"<text x='{lx + 16}' y='{yy + 24}'>loadgen, fixed rate</text>")
    o.append(
        f"<polygon points='{lx + 6},{yy + 35} {lx + 1},{yy + 44} {lx + 11},{yy + 44}' fill='white' "
        "stroke='#555' stroke-width='2'/>"
    )
    o.append(f"<text x='{lx + 16}' y='{yy + 44}'>SIPp, fixed rate (ms clock)</text>")
    o.append("</svg>")
    return "\n".join(o) + "\n"


def nice_step(raw):
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def label_us(v):
    if v >= 1000:
        return f"{v / 1000:g} ms"
    return f"{v:g} µs"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--csv")
    ap.add_argument("--markdown")
    ap.add_argument("--svg")
    args = ap.parse_args()
    records = load(args.results)
    add_variants(records)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(args.results))))
    rows = rows_of(records)
    srows = sipp_rows(root, records)
    if args.csv:
        write_csv(args.csv, rows + srows)
    md = markdown(records, rows, srows)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    else:
        sys.stdout.write(md)
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(svg(rows, srows))


if __name__ == "__main__":
    main()
