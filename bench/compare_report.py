#!/usr/bin/env python3
"""The report of bench/compare.sh: raw iperf3 and ping outputs in, one markdown table (or JSON) out.

Input: --results DIR holding one folder per setup (lanraged, wireguard-go, veth) with
tcp_ab.json, tcp_ba.json, udp64.json, load_tcp.json (iperf3 -J), rtt_idle.txt, rtt_load.txt
(ping output, one line per reply), marks.tsv (engine CPU ticks, time and both hosts' UDP
receive-buffer drops before and after each iperf3 run), loadavg, status (the setup's exit code),
for lanraged stats-a.txt and stats-b.txt (get=lanrage-stats), and maybe problems. A file that
is missing or unparsable makes its metric "failed"; the rest of the table still prints.
"""

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys

COLUMNS = [("lanraged", "lanraged"), ("wireguard-go", "wireguard-go"), ("veth", "raw veth")]
# Engine-only metrics: the raw veth has no engine and no outer UDP socket.
VETH_NA = {"cpu_tcp_ab_pct", "cpu_per_gbit", "tcp_ab_rcvbuf_drops_b", "tcp_ba_rcvbuf_drops_a"}
HIGHER, LOWER, NEUTRAL = "higher is better", "lower is better", ""

# (key, label, unit, direction, decimals); the order is the table's.
METRICS = [
    ("tcp_ab_mbps", "TCP A→B, 1 stream", "Mbit/s", HIGHER, 0),
    ("tcp_ba_mbps", "TCP B→A, 1 stream (-R)", "Mbit/s", HIGHER, 0),
    ("tcp_ab_retrans", "TCP A→B retransmitted segments", "", LOWER, 0),
    ("udp64_rx_kpps", "UDP 64 B delivered (receiver count / time)", "kpps", HIGHER, 1),
    ("udp64_tx_kpps", "UDP 64 B offered by the sender", "kpps", NEUTRAL, 1),
    ("udp64_loss_pct", "UDP 64 B lost", "%", LOWER, 1),
    ("rtt_idle_p50", "idle RTT p50", "ms", LOWER, 3),
    ("rtt_idle_p99", "idle RTT p99", "ms", LOWER, 3),
    ("rtt_load_p50", "RTT under TCP load p50", "ms", LOWER, 3),
    ("rtt_load_p99", "RTT under TCP load p99", "ms", LOWER, 3),
    ("rtt_load_max", "RTT under TCP load max", "ms", LOWER, 3),
    ("rtt_load_loss_pct", "pings lost under TCP load", "%", LOWER, 1),
    ("load_tcp_mbps", "the bulk TCP A→B during those pings", "Mbit/s", HIGHER, 0),
    ("tcp_ab_rcvbuf_drops_b", "TCP A→B: B's outer UDP socket overflowed", "datagrams", LOWER, 0),
    ("tcp_ba_rcvbuf_drops_a", "TCP B→A: A's outer UDP socket overflowed", "datagrams", LOWER, 0),
    ("cpu_tcp_ab_pct", "engine CPU during TCP A→B (both engines)", "% of 1 core", NEUTRAL, 0),
    ("cpu_per_gbit", "engine CPU per Gbit/s of TCP A→B", "% of 1 core", LOWER, 0),
]


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "error" in data:
        return None
    return data


def iperf_error(path):
    """The reason an iperf3 run gave no result, for the notes."""
    data = None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return "no output" if not os.path.exists(path) else "unparsable output"
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return None


def tcp_received(data):
    """Receiver's bits/s of a TCP run (-O intervals excluded by iperf3 itself)."""
    try:
        return data["end"]["sum_received"]["bits_per_second"]
    except (KeyError, TypeError):
        return None


def tcp_retransmits(data):
    try:
        return data["end"]["sum_sent"]["retransmits"]
    except (KeyError, TypeError):
        return None


def udp_result(data):
    """(delivered pps, offered pps, loss %) of a UDP run, from the receiver's side.

    The receiver's "packets" is the highest sequence number it saw and "lost_packets" the gaps
    (less the reordered ones), so packets - lost is what arrived; its seconds are its own."""
    try:
        rx = data["end"]["sum_received"]
        tx = data["end"]["sum_sent"]
        delivered = rx["packets"] - rx["lost_packets"]
        rx_pps = delivered / rx["seconds"]
        tx_pps = tx["packets"] / tx["seconds"]
        loss = 100.0 * (1 - delivered / tx["packets"]) if tx["packets"] else None
        return rx_pps, tx_pps, loss
    except (KeyError, TypeError, ZeroDivisionError):
        return None, None, None


def percentile(values, pct):
    """Nearest-rank percentile: the smallest value with at least pct % of them at or below."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def ping_result(path):
    """(times in ms, transmitted) from ping's output; None when ping did not run."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None, None
    times = [float(t) for t in re.findall(r"icmp_seq=\d+ ttl=\d+ time=([0-9.]+) ms", text)]
    m = re.search(r"(\d+) packets transmitted", text)
    return times, int(m.group(1)) if m else None


def read_marks(path):
    """NAME -> (engine ticks, wall seconds, A's rcvbuf drops, B's rcvbuf drops)."""
    marks = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 5:
                    marks[parts[0]] = (int(parts[1]), float(parts[2]), int(parts[3]),
                                       int(parts[4]))
    except (OSError, ValueError):
        pass
    return marks


def mark_span(marks, name):
    begin, end = marks.get(name + ".begin"), marks.get(name + ".end")
    if not begin or not end or end[1] <= begin[1]:
        return None
    return begin, end


def cpu_percent(marks, name):
    """Engines' CPU time during run NAME as a percentage of one core's wall time."""
    span = mark_span(marks, name)
    if not span:
        return None
    begin, end = span
    return 100.0 * (end[0] - begin[0]) / os.sysconf("SC_CLK_TCK") / (end[1] - begin[1])


def rcvbuf_drops(marks, name, host):
    """UDP datagrams HOST (0 = A, 1 = B) dropped on a full socket receive buffer during NAME."""
    span = mark_span(marks, name)
    if not span:
        return None
    begin, end = span
    return end[2 + host] - begin[2 + host]


def engine_drops(path):
    """Non-zero counters of a get=lanrage-stats answer, as "name=N" strings."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f]
    except OSError:
        return None
    return [line for line in lines if "=" in line and not line.endswith("=0")
            and not line.startswith("errno=")]


def setup_metrics(folder, kind):
    """All metrics of one setup: key -> number or None; plus notes for the reader."""
    m, notes = {}, []
    tcp_ab = load_json(os.path.join(folder, "tcp_ab.json"))
    bps = tcp_received(tcp_ab)
    m["tcp_ab_mbps"] = bps / 1e6 if bps is not None else None
    m["tcp_ab_retrans"] = tcp_retransmits(tcp_ab)
    bps = tcp_received(load_json(os.path.join(folder, "tcp_ba.json")))
    m["tcp_ba_mbps"] = bps / 1e6 if bps is not None else None
    rx_pps, tx_pps, loss = udp_result(load_json(os.path.join(folder, "udp64.json")))
    m["udp64_rx_kpps"] = rx_pps / 1e3 if rx_pps is not None else None
    m["udp64_tx_kpps"] = tx_pps / 1e3 if tx_pps is not None else None
    m["udp64_loss_pct"] = loss
    bps = tcp_received(load_json(os.path.join(folder, "load_tcp.json")))
    m["load_tcp_mbps"] = bps / 1e6 if bps is not None else None
    for name in ("tcp_ab", "tcp_ba", "udp64", "load_tcp"):
        why = iperf_error(os.path.join(folder, name + ".json"))
        if why:
            notes.append(f"{name}: iperf3 failed: {why}")

    for name in ("rtt_idle", "rtt_load"):
        times, sent = ping_result(os.path.join(folder, name + ".txt"))
        for p in ("p50", "p99", "max"):
            m[f"{name}_{p}"] = None
        m[f"{name}_loss_pct"] = None
        if not times:
            notes.append(f"{name}: no ping reply")
            continue
        m[f"{name}_p50"] = percentile(times, 50)
        m[f"{name}_p99"] = percentile(times, 99)
        m[f"{name}_max"] = max(times)
        if sent:
            m[f"{name}_loss_pct"] = 100.0 * (sent - len(times)) / sent
            if len(times) < sent:
                notes.append(f"{name}: {sent - len(times)} of {sent} pings unanswered")

    marks = read_marks(os.path.join(folder, "marks.tsv"))
    m["cpu_tcp_ab_pct"] = None
    m["cpu_per_gbit"] = None
    m["tcp_ab_rcvbuf_drops_b"] = None
    m["tcp_ba_rcvbuf_drops_a"] = None
    if kind != "veth":
        cpu = cpu_percent(marks, "tcp_ab")
        m["cpu_tcp_ab_pct"] = cpu
        if cpu is not None and m["tcp_ab_mbps"]:
            m["cpu_per_gbit"] = cpu / (m["tcp_ab_mbps"] / 1e3)
        m["tcp_ab_rcvbuf_drops_b"] = rcvbuf_drops(marks, "tcp_ab", 1)
        m["tcp_ba_rcvbuf_drops_a"] = rcvbuf_drops(marks, "tcp_ba", 0)
    if kind == "lanraged":
        for host in ("a", "b"):
            drops = engine_drops(os.path.join(folder, f"stats-{host}.txt"))
            if drops is None:
                notes.append(f"engine {host.upper()}: no get=lanrage-stats answer")
            elif drops:
                notes.append(f"engine {host.upper()} counters at the end: " + ", ".join(drops))

    try:
        with open(os.path.join(folder, "loadavg"), encoding="utf-8") as f:
            loads = [line.split()[0] for line in f if line.strip()]
        m["loadavg_1min"] = loads
    except OSError:
        m["loadavg_1min"] = []
    try:
        with open(os.path.join(folder, "status"), encoding="utf-8") as f:
            status = int(f.read().strip() or "1")
    except (OSError, ValueError):
        status = None
    m["status"] = status
    if status not in (0, None):
        why = " (77: skipped, a tool or binary missing)" if status == 77 else ""
        if all(m[key] is None for key, *_ in METRICS):
            # Nothing ran: one line instead of a "failed" note per measurement.
            notes[:] = [f"setup failed with status {status}{why} before measuring anything "
                        "(its lab logs say why)"]
        else:
            notes.append(f"setup exited with status {status}{why}")
    try:
        with open(os.path.join(folder, "problems"), encoding="utf-8") as f:
            notes.extend(line.strip() for line in f if line.strip())
    except OSError:
        pass
    return m, notes


def first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release()}


def fmt(value, decimals):
    if value is None:
        return "failed"
    return f"{value:.{decimals}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def ratio_cell(direction, a, b):
    """lanraged / wireguard-go, and which way that goes when the metric has a better side."""
    r = ratio(a, b)
    if r is None:
        return "-"
    if direction == NEUTRAL or abs(r - 1.0) < 0.005:
        return f"{r:.2f}×"
    better = r > 1.0 if direction == HIGHER else r < 1.0
    return f"{r:.2f}× ({'better' if better else 'worse'})"


def markdown(meta, results, notes, setups):
    out = []
    out.append("## lanraged vs wireguard-go vs raw veth")
    out.append("")
    out.append(f"- command: `{meta['cmdline']}`")
    out.append(f"- date: {meta['date']}")
    mach = meta["machine"]
    out.append(f"- machine: {mach['nproc']} CPUs, {mach['cpu']}, kernel {mach['kernel']}")
    out.append(f"- versions: {meta['versions']['lanraged']} (`{meta['lanraged']}`); "
               f"{meta['versions']['wireguard-go']} (`{meta['wireguard-go']}`); "
               f"{meta['versions']['iperf3']}")
    loads = ", ".join(f"{label} {' → '.join(results[kind].get('loadavg_1min', [])) or '?'}"
                      for kind, label in COLUMNS if kind in setups)
    out.append(f"- 1-min load average before → after each setup: {loads}")
    out.append("")
    shown = [(k, label) for k, label in COLUMNS if k in setups]
    head = "| metric | " + " | ".join(label for _, label in shown)
    rule = "|---|" + "---:|" * len(shown)
    with_ratio = "lanraged" in setups and "wireguard-go" in setups
    if with_ratio:
        head += " | lanraged / wireguard-go"
        rule += "---:|"
    out.append(head + " |")
    out.append(rule)
    for key, label, unit, direction, dec in METRICS:
        cells = []
        for kind, _ in shown:
            if kind == "veth" and key in VETH_NA:
                cells.append("-")
            else:
                cells.append(fmt(results[kind].get(key), dec))
        name = label + (f", {unit}" if unit else "") + (f" ({direction})" if direction else "")
        row = f"| {name} | " + " | ".join(cells)
        if with_ratio:
            row += " | " + ratio_cell(direction, results["lanraged"].get(key),
                                      results["wireguard-go"].get(key))
        out.append(row + " |")
    out.append("")
    sec = meta["seconds"]
    out.append(f"Method: namespaces A and B on one veth; tunnels at MTU 1420. TCP: iperf3, one "
               f"stream, {sec} s after 1 s omitted, receiver's rate. UDP: iperf3 -u -l 64 -b 0 "
               f"A→B for {max(2, (sec + 1) // 2)} s; delivered = receiver's packets minus its "
               "lost count, over its own time. RTT: ping -i 0.01 -c 200 A→B, nearest-rank "
               "percentiles of the per-reply times; under load a bulk TCP A→B started 1.5 s "
               "before the pings. Engine CPU: user+system time of both engine processes over "
               "the TCP A→B run. Socket overflows: RcvbufErrors (Udp + Udp6) in the receiving "
               "namespace during the TCP run, i.e. datagrams its engine did not read in time. "
               "Ratios say whether lanraged is better or worse for that metric. "
               "Each setup ran alone, but other work on the machine (see load average) adds "
               "noise: compare runs, not single numbers.")
    lines = [f"- {label}: {n}" for kind, label in COLUMNS for n in notes.get(kind, [])]
    if lines:
        out.append("")
        out.append("Notes:")
        out.extend(lines)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", required=True)
    ap.add_argument("--cmdline", default="")
    ap.add_argument("--date", default="")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--lanraged", default="build/lanraged")
    ap.add_argument("--wireguard-go", dest="wggo", default="wireguard-go")
    ap.add_argument("--setups", default="lanraged wireguard-go veth")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    setups = args.setups.split()
    results, notes = {}, {}
    for kind in setups:
        results[kind], notes[kind] = setup_metrics(os.path.join(args.results, kind), kind)
    meta = {
        "cmdline": args.cmdline,
        "date": args.date,
        "seconds": args.seconds,
        "machine": machine(),
        "lanraged": args.lanraged,
        "wireguard-go": args.wggo,
        "versions": {
            "lanraged": first_line([args.lanraged, "--version"]),
            "wireguard-go": first_line([args.wggo, "--version"]),
            "iperf3": first_line(["iperf3", "--version"]),
        },
    }
    if args.json:
        ratios = {}
        if "lanraged" in results and "wireguard-go" in results:
            for key, *_ in METRICS:
                ratios[key] = ratio(results["lanraged"].get(key), results["wireguard-go"].get(key))
        doc = {"meta": meta, "results": results, "ratios_lanraged_over_wireguard_go": ratios,
               "notes": notes,
               "units": {key: unit for key, _, unit, _, _ in METRICS}}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(markdown(meta, results, notes, setups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
