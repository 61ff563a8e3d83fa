#!/usr/bin/env python3
"""Turn a benchmark run and a conformance matrix into one self-contained HTML report.

    make-report.py --out report [--csv report/bench.csv] [--json report/bench.json]
                   [--conformance report/conformance.json] [--command "CMD"]...

Reads the CSV contract of sp-bench (docs/benchmarks.md), its JSON (machine, backend status,
latency histograms) and the conformance matrix (conformance/README.md). Runs the gnuplot
scripts beside this file into OUT/plots/*.png and *.svg and writes OUT/index.html with the
PNGs embedded as data URIs: the page fetches nothing. Whatever input is missing, truncated or
empty, the page says so where the data would have been; it never fails on bad input.
"""
import argparse
import base64
import csv
import html
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONTRACT = ["backend", "size", "batch", "msgs_per_s", "gbit_per_s", "ns_per_msg", "cycles_per_msg",
            "p50_ns", "p99_ns", "p999_ns", "max_ns", "sent", "received"]
BACKENDS = ["sendpath-vsock", "sendpath-udp", "kernel-udp", "kernel-vsock", "dpdk-txonly"]
SPEEDUPS = [("sendpath-udp", "kernel-udp"), ("sendpath-vsock", "kernel-vsock")]
CEILING = [("sendpath-udp", "dpdk-txonly"), ("sendpath-vsock", "dpdk-txonly"), ("kernel-udp", "dpdk-txonly")]
VERDICT_LOOK = {  # colour, symbol, meaning
    "match": ("#c7e9c0", "✓", "same trace as the reference"),
    "reference": ("#deebf7", "ref", "the reference column"),
    "accepted": ("#fff3b0", "≈", "differs, accepted with a reason"),
    "diverge": ("#fcbba1", "✗", "differs, unexplained"),
    "error": ("#f4a6a6", "!", "crashed, hung or failed to set up"),
    "skipped": ("#eeeeee", "–", "did not run"),
}
# Kinds of accepted difference (conformance/accepted.json): short label, meaning.
KINDS = {
    "kernel": ("kern", "the reference kernels differ from each other"),
    "limitation": ("lim", "sendpath does not do this"),
    "extension": ("ext", "sendpath does more than the reference kernel"),
    "peer": ("peer", "the peers differ, not the senders"),
    "bug": ("bug", "a known sendpath bug, reported"),
}
E = html.escape


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


class Notes:
    """Problems with the input, each shown in place and listed at the top."""

    def __init__(self):
        self.items = []

    def add(self, where, text):
        self.items.append((where, text))
        return f'<p class="notice">{E(text)}</p>'


def load_csv(path, notes):
    """Rows that satisfy the contract; every problem becomes a note."""
    if not os.path.exists(path):
        return [], notes.add("bench", f"No benchmark results: {path} does not exist (the benchmark did not run).")
    rows, bad = [], 0
    try:
        with open(path, newline="") as f:
            rd = csv.DictReader(f)
            missing = [c for c in CONTRACT if c not in (rd.fieldnames or [])]
            if missing:
                return [], notes.add("bench", f"{path} is not a benchmark CSV: columns missing: {', '.join(missing)}.")
            for r in rd:
                if any(r.get(c) in (None, "") for c in ("backend", "size", "batch", "msgs_per_s", "sent", "received")) \
                        or num(r["size"]) is None or num(r["msgs_per_s"]) is None:
                    bad += 1
                    continue
                rows.append(r)
    except (OSError, csv.Error, UnicodeDecodeError) as e:
        return [], notes.add("bench", f"{path} could not be read: {e}.")
    msg = ""
    if bad:
        msg += notes.add("bench", f"{bad} row(s) of {path} were incomplete (truncated file?) and are left out.")
    if not rows:
        msg += notes.add("bench", f"{path} holds no benchmark rows: the run measured nothing.")
    return rows, msg


def load_json(path, notes):
    if not os.path.exists(path):
        notes.add("bench", f"{path} is missing: no machine description, backend status or latency histograms.")
        return {}
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        notes.add("bench", f"{path} could not be read ({e}): no machine description or latency histograms.")
        return {}


def machine_line(j):
    m = j.get("machine") or {}
    if not m:
        return "machine: unknown (bench.json missing)"
    return (f"{m.get('cpu_model', '?')}, {m.get('cpus_online', '?')} CPUs, {m.get('kernel', '?')}, "
            f"DPDK {m.get('dpdk_version', '?')}, {'hugepages' if m.get('hugepages') else 'no hugepages (--no-huge)'}, "
            f"load {' '.join((m.get('loadavg') or '?').split()[:3])}, {m.get('date', '')}")


def gnuplot(script, out_base, variables, notes, where):
    """PNG and SVG from one script; returns the PNG path or None (and a note) on failure."""
    made = None
    for fmt in ("png", "svg"):
        out = f"{out_base}.{fmt}"
        sets = [f"dir='{HERE}/'", f"out='{out}'", f"fmt='{fmt}'"]
        for k, v in variables.items():
            sets.append(f"{k}='{v}'" if isinstance(v, str) else f"{k}={v}")
        try:
            p = subprocess.run(["gnuplot", "-e", "; ".join(sets), os.path.join(HERE, script)],
                               capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            notes.add(where, f"gnuplot could not run ({e}); plot {os.path.basename(out_base)} missing.")
            return None
        if p.returncode != 0 or not os.path.exists(out) or os.path.getsize(out) == 0:
            err = (p.stderr.strip().splitlines() or ["no output"])[-1]
            notes.add(where, f"gnuplot failed on {script}: {err}")
            return None
        if fmt == "png":
            made = out
    return made


def figure(png, caption, fallback):
    if not png:
        return f'<p class="notice">{E(fallback)}</p>'
    with open(png, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    svg = os.path.relpath(png[:-4] + ".svg", os.path.dirname(os.path.dirname(png)))
    return (f'<figure><img alt="{E(caption)}" src="data:image/png;base64,{data}">'
            f'<figcaption>{E(caption)} (<a href="{E(svg)}">SVG</a>)</figcaption></figure>')


def present(rows):
    seen = [r["backend"] for r in rows]
    return [b for b in BACKENDS if b in seen] + sorted({b for b in seen if b not in BACKENDS})


def pick(values, prefer):
    values = sorted(set(values))
    for p in prefer:
        if p in values:
            return p
    return values[-1] if values else None


def size_key(s):
    """Sizes clamped to a path's maximum (65507 for UDP, ...) compare as 64 KiB."""
    s = int(s)
    return 65536 if s > 65000 else s


def speedup_rows(rows, pairs):
    by = {}
    for r in rows:
        by[(r["backend"], size_key(r["size"]), int(r["batch"]))] = num(r["msgs_per_s"])
    out = []
    for a, b in pairs:
        for (be, size, batch), v in sorted(by.items()):
            ref = by.get((b, size, batch))
            if be == a and v and ref:
                # kernel-vsock runs in an emulated guest: say so wherever its ratio shows
                out.append((f"{a} / {b}" + (" (emulated)" if b == "kernel-vsock" else ""), size, batch, v / ref))
    return out


def latency_sets(j, backends, size, batch):
    """Per backend: its row (JSON) at the chosen point, when it carries latency figures."""
    got = {}
    for r in j.get("rows", []) or []:
        if r.get("latency") and r.get("backend") in backends and r.get("batch") == batch \
                and size_key(r.get("size", 0)) == size_key(size):
            got[r["backend"]] = r
    return got


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def fmt_num(v, digits=3):
    x = num(v)
    if x is None:
        return "–"
    if x >= 1e9:
        return f"{x / 1e9:.{digits}g} G"
    if x >= 1e6:
        return f"{x / 1e6:.{digits}g} M"
    if x >= 1e4:
        return f"{x / 1e3:.{digits}g} k"
    return f"{x:.{digits}g}"


def fmt_ns(v):
    """A latency in ns, in the unit a reader expects: 287 ns, 88.1 µs, 22.5 ms."""
    x = num(v)
    if x is None or v in ("", None):
        return "–"
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if x >= div:
            return f"{x / div:.3g} {unit}"
    return f"{x:.0f} ns"


def fmt_plain(v):
    """Per-message costs: 4 significant digits, thousands grouped, never 1.9e+04."""
    x = num(v)
    if not x:  # 0: not measured on this path (e.g. cycles inside an emulated guest)
        return "–"
    return f"{x:,.0f}" if x >= 1000 else f"{x:.4g}"


def bench_tables(rows, backends, status):
    cols = [("size", "size B"), ("batch", "batch"), ("call", "call"), ("msgs_per_s", "msgs/s"),
            ("gbit_per_s", "Gbit/s"), ("ns_per_msg", "ns/msg"), ("cycles_per_msg", "cycles/msg"),
            ("cpu_ns_per_msg", "CPU ns/msg"), ("p50_ns", "p50"), ("p99_ns", "p99"),
            ("p999_ns", "p99.9"), ("max_ns", "max"), ("sent", "sent"), ("received", "received"),
            ("dropped", "dropped"), ("eagain", "EAGAIN"), ("note", "note")]
    out = []
    names = backends + [s["name"] for s in status if s.get("name") not in backends]
    for b in names:
        mine = [r for r in rows if r["backend"] == b]
        st = next((s for s in status if s.get("name") == b), None)
        head = f'<h3 id="t-{E(b)}">{E(b)}</h3>'
        if st and st.get("about"):
            head += f'<p class="about">{E(st["about"])}</p>'
        if not mine:
            why = (st or {}).get("why") or "no rows in the CSV"
            out.append(head + f'<p class="notice">No data for {E(b)}: {E((st or {}).get("status", "absent"))} – {E(why)}</p>')
            continue
        if st and st.get("status") not in ("ok", None):
            head += f'<p class="notice">{E(b)} ended {E(st["status"])}: {E(st.get("why", ""))}</p>'
        t = ["<table class='data'><tr>" + "".join(f"<th>{E(h)}</th>" for _, h in cols) + "</tr>"]
        for r in sorted(mine, key=lambda r: (int(r["batch"]), int(r["size"]))):
            cells = []
            for k, _ in cols:
                v = r.get(k, "")
                if k in ("msgs_per_s", "sent", "received", "dropped", "eagain"):
                    v = fmt_num(v, 4) if v not in ("", None) else "–"
                elif k == "gbit_per_s":
                    v = f"{num(v):.4g}" if num(v) is not None else "–"
                elif k in ("ns_per_msg", "cycles_per_msg", "cpu_ns_per_msg"):
                    v = fmt_plain(v)
                elif k.endswith("_ns"):
                    v = fmt_ns(v)
                bad = k == "received" and r.get("sent") != r.get("received")
                cells.append(f"<td{' class=warn' if bad else ''}>{E(str(v))}</td>")
            t.append("<tr>" + "".join(cells) + "</tr>")
        out.append(head + "\n".join(t) + "</table>")
    return "\n".join(out)


def lowload_table(path, notes):
    if not path:
        return "<p>No low-load run was made.</p>"
    sub = Notes()
    rows, msg = load_csv(path, sub)
    for w, t in sub.items:
        notes.add("low-load", t)
    if not rows:
        return msg
    t = ["<table class='data'><tr><th>backend</th><th>size B</th><th>batch</th><th>offered msgs/s</th>"
         "<th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>sent</th><th>received</th>"
         "<th>note</th></tr>"]
    for r in rows:
        lat = "".join(f"<td>{E(fmt_ns(r.get(k)))}</td>" for k in ("p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"))
        t.append(f"<tr><td>{E(r['backend'])}</td><td>{E(r['size'])}</td><td>{E(r['batch'])}</td>"
                 f"<td>{E(fmt_num(r.get('rate'), 3))}</td>{lat}<td>{E(fmt_num(r.get('sent'), 4))}</td>"
                 f"<td>{E(fmt_num(r.get('received'), 4))}</td><td>{E(r.get('note') or '')}</td></tr>")
    return ("<p>One message per call at a fixed offered rate, timestamps read at the peer "
            "(see docs/benchmarks.md). A backend whose peer reads no timestamps has no latency (–); "
            "backends that cannot pace are not in this run.</p>" + "\n".join(t) + "</table>")


def steps_html(steps):
    if not steps:
        return "<pre>(no trace)</pre>"
    return "<pre>" + E("\n".join(f"{i:3d}  {step_text(s)}" for i, s in enumerate(steps, 1))) + "</pre>"


def step_text(s):
    if not isinstance(s, dict):
        return str(s)
    t = f"{s.get('op', '?')}({s.get('args', '')}) = {s.get('ret', '')}"
    if s.get("errno"):
        t += f" {s['errno']}"
    if s.get("sigpipe"):
        t += f" SIGPIPE x{s['sigpipe']}"
    if s.get("note"):
        t += f" [{s['note']}]"
    return t


def topology_section(d, notes):
    """The run-vhost-guest.sh results: one row per kernel, pass/fail with its figures."""
    if not isinstance(d, dict) or "topologies" not in d:
        return notes.add("conformance", "The conformance matrix has no 'topologies' section: the vhost-user "
                         "topology was not run (older compare.py or run.sh without it).")
    topo = [t for t in d.get("topologies") or [] if isinstance(t, dict)]
    if not topo:
        return notes.add("conformance", "The vhost-user topology ran for no kernel (empty 'topologies').")
    what = next((t.get("topology") for t in topo if t.get("topology")), "")
    out = [f"<p>{E(what or 'guest kernel virtio-vsock → vhost-user-vsock-pci → sp-vhost-vsock')}: in the guest, "
           "the kernel's own virtio-vsock driver sends a stream the backend checks byte by byte, connects to a port "
           "the backend refuses (ECONNRESET expected), then sends after the backend shut the connection down "
           "(EPIPE expected; SIGPIPE on kernels that raise it).</p>",
           '<table class="data" id="conformance-topologies"><tr><th>column</th><th>guest kernel</th><th>result</th>'
           "<th>stream MiB</th><th>guest send MB/s</th><th>boot and run s</th><th>backend rx bytes</th>"
           "<th>verify errors</th><th>credit violations</th><th>connections accepted / refused</th>"
           "<th>RST sent</th><th>after shutdown</th><th>checks</th></tr>"]
    for t in topo:
        b = t.get("backend") or {}
        guest = [str(g) for g in t.get("guest") or []]
        rate = next((g.rsplit("(", 1)[1].split()[0] for g in guest if "bytes in" in g and "(" in g), "–")
        after = "; ".join(g.split("-> ", 1)[1] for g in guest
                          if "-> " in g and ("shutdown" in g or "MSG_NOSIGNAL" in g)) or "–"
        checks = t.get("checks") or {}
        failed = [k for k, v in checks.items() if not v]
        ok = bool(t.get("ok"))
        res = "pass" if ok else "FAIL"
        detail = (", ".join(f"{k} failed" for k in failed) or t.get("error") or "") if not ok else \
            f"all {len(checks)} passed"
        byts = t.get("bytes")
        cell = lambda v: E(str(v)) if v not in (None, "") else "–"
        log = "<details><summary>guest log</summary><pre>" + E("\n".join(guest) or "(none)") + "</pre></details>"
        out.append(f"<tr><td>{cell(t.get('column') or t.get('file'))}</td><td>{cell(t.get('kernel'))}</td>"
                   f"<td class='{'ok' if ok else 'warn'}'>{res}</td>"
                   f"<td>{f'{byts / 2**20:.0f}' if isinstance(byts, (int, float)) else '–'}</td><td>{E(rate)}</td>"
                   f"<td>{cell(t.get('boot_and_run_s'))}</td><td>{cell(b.get('rx_bytes'))}</td>"
                   f"<td>{cell(b.get('verify_errors'))}</td><td>{cell(b.get('credit_violations'))}</td>"
                   f"<td>{cell(b.get('conns_accepted'))} / {cell(b.get('conns_refused'))}</td>"
                   f"<td>{cell(b.get('rst_sent'))}</td><td>{E(after)}</td><td>{E(detail)}{log}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def kernel_columns(cols, info):
    """The reference kernels' columns: kernels run in a guest (kernel-X.Y), not the host."""
    ks = [c for c in cols if info.get(c, {}).get("backend", "kernel") == "kernel"
          and (info.get(c, {}).get("boot_and_run_s") or c.startswith("kernel-"))]
    return ks


def kernel_diff_section(d, cells, scen, cols, info):
    """Every scenario where the reference kernels' traces differ from each other."""
    ks = kernel_columns(cols, info)
    if len(ks) < 2:
        return (f'<p class="notice">Fewer than two reference kernels in the matrix ({E(", ".join(ks) or "none")}): '
                "nothing to compare kernels with.</p>")
    keys = ("op", "args", "ret", "errno", "sigpipe", "note")

    def norm(steps):
        return [tuple(st.get(k) for k in keys) if isinstance(st, dict) else (str(st),) for st in steps or []]

    rows, unknown = [], []
    for s in sorted(scen, key=lambda n: (scen[n][0], n)):
        ref_trace = next((cells[(s, c)].get("reference_trace") for c in cols
                          if (s, c) in cells and cells[(s, c)].get("reference_trace")), None)
        eff = {}
        for k in ks:
            r = cells.get((s, k)) or {}
            v = r.get("verdict", "skipped")
            if v in ("match", "reference"):
                eff[k] = ("same", ref_trace)
            elif v in ("accepted", "diverge"):
                eff[k] = ("own", r.get("trace"))
            else:
                eff[k] = (v, None)
        ran = [k for k in ks if eff[k][0] in ("same", "own")]
        if len(ran) < len(ks) and ran:
            unknown.append((s, [k for k in ks if k not in ran]))
        if len(ran) < 2:
            continue
        traces = {k: (eff[k][1] if eff[k][0] == "own" else ref_trace) for k in ran}
        if all(eff[k][0] == "same" for k in ran):
            continue
        if all(traces[k] is not None for k in ran) and len({str(norm(traces[k])) for k in ran}) == 1:
            continue
        rows.append((s, ran, traces))
    out = [f"<p>{E(' vs '.join(ks))}: scenarios whose traces differ between the kernels themselves "
           "(the newest kernel is the vsock reference; sendpath follows it). Expand a row for the traces.</p>"]
    if not rows:
        out.append('<p id="kernel-differences">The reference kernels agree on every scenario both ran.</p>')
    else:
        a = ks
        out.append('<table class="data kdiff" id="kernel-differences"><tr><th>scenario</th><th>proto</th>' +
                   "".join(f"<th>{E(k)}</th>" for k in a) + "<th>first difference, and why</th></tr>")
        for s, ran, traces in rows:
            proto, what = scen[s]
            tds = []
            for k in a:
                r = cells.get((s, k)) or {}
                v = r.get("verdict", "skipped")
                colour, sym, _ = VERDICT_LOOK.get(v, ("#ffffff", "?", ""))
                lab = v + (f" ({r.get('kind')})" if v == "accepted" and r.get("kind") else "")
                tds.append(f'<td style="background:{colour}" title="{E(r.get("reason") or "")}">{sym} {E(lab)}</td>')
            x, y = ran[0], ran[-1]
            na, nb = norm(traces[x]), norm(traces[y])
            i = next((j for j, (p, q) in enumerate(zip(na, nb)) if p != q), min(len(na), len(nb)))
            step = lambda n: step_text(dict(zip(keys, n[i]))) if i < len(n) else "(none)"
            why = next((cells[(s, k)].get("reason") for k in ran
                        if cells.get((s, k), {}).get("verdict") in ("accepted", "diverge") and cells[(s, k)].get("reason")), "")
            body = (f"step {i + 1}: {x}: {step(na)} | {y}: {step(nb)}")
            trs = "".join(f"<div><b>{E(k)}</b>{steps_html(traces[k])}</div>" for k in ran)
            tds.append(f'<td class="why"><details><summary>{E(body)}</summary><p>{E(why)}</p>'
                       f'<div class="traces">{trs}</div></details></td>')
            out.append(f'<tr><td title="{E(what)}">{E(s)}</td><td>{E(proto)}</td>' + "".join(tds) + "</tr>")
        out.append("</table>")
        out.append(f"<p>{len(rows)} scenario(s) differ between the kernels.</p>")
    if unknown:
        out.append("<p>Not compared (did not run on every kernel): " +
                   ", ".join(f"{E(s)} (not on {E(', '.join(m))})" for s, m in unknown) + ".</p>")
    return "\n".join(out)


def conformance_section(path, notes):
    if not path or not os.path.exists(path):
        return notes.add("conformance", f"No conformance results: {path or 'conformance.json'} does not exist "
                         "(the conformance suite did not run)."), None
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        return notes.add("conformance", f"{path} could not be read: {e}."), None
    results = d.get("results") if isinstance(d, dict) else d
    if not isinstance(results, list):
        return notes.add("conformance", f"{path} has no list of results."), None
    cells, scen, cols = {}, {}, []
    for r in results:
        if not isinstance(r, dict) or "scenario" not in r:
            continue
        col = r.get("column") or r.get("backend") or "?"
        if col not in cols:
            cols.append(col)
        scen.setdefault(r["scenario"], (r.get("proto", ""), r.get("what", "")))
        cells[(r["scenario"], col)] = r
    if not cells:
        return notes.add("conformance", f"{path} holds no scenario results."), d
    counts = {c: {} for c in cols}
    for (s, c), r in cells.items():
        v = r.get("verdict", "skipped")
        counts[c][v] = counts[c].get(v, 0) + 1
    kinds = {c: {} for c in cols}
    for (s, c), r in cells.items():
        if r.get("verdict") == "accepted":
            k = r.get("kind") or "unspecified"
            kinds[c][k] = kinds[c].get(k, 0) + 1
    skips = {c: {} for c in cols}
    for (s, c), r in cells.items():
        if r.get("verdict") == "skipped":
            w = r.get("reason") or "no reason given"
            skips[c][w] = skips[c].get(w, 0) + 1
    info = {c.get("name"): c for c in (d.get("columns") or []) if isinstance(c, dict)} if isinstance(d, dict) else {}
    refs = d.get("reference") or {} if isinstance(d, dict) else {}
    out = []
    if refs:
        out.append("<p>Each column is compared step by step with the reference of the scenario's protocol: " +
                   ", ".join(f"{E(p)} → <b>{E(c)}</b>" for p, c in refs.items()) +
                   ". sendpath follows the newest kernel.</p>")
    out.append('<table class="summary"><tr><th>column</th><th>runs on</th><th>time s</th>' +
               "".join(f'<th style="background:{VERDICT_LOOK[v][0]}">{E(v)}</th>' for v in VERDICT_LOOK) +
               "<th>accepted, by kind</th><th>skipped, why</th></tr>")
    for c in cols:
        ci = info.get(c, {})
        where = (f"{ci.get('backend', '?')}, Linux {ci.get('kernel', '?')}" +
                 (" (QEMU guest)" if ci.get("boot_and_run_s") else "")) if ci else "?"
        if ci.get("skipped"):
            where += f" – skipped: {ci['skipped']}"
        t = ci.get("boot_and_run_s") or ci.get("duration_s")
        tt = f"{t:.1f}" if isinstance(t, (int, float)) else "–"
        if ci.get("boot_and_run_s"):
            tt += " (boot and run)"
        out.append(f"<tr><td>{E(c)}</td><td>{E(where)}</td><td>{E(tt)}</td>" +
                   "".join(f"<td>{counts[c].get(v, 0)}</td>" for v in VERDICT_LOOK) +
                   f"<td>{E(', '.join(f'{n} {k}' for k, n in sorted(kinds[c].items())) or '–')}</td>"
                   f"<td class='why'>{E('; '.join(f'{n}: {w}' for w, n in skips[c].items()) or '–')}</td></tr>")
    out.append("</table>")
    out.append('<p class="legend">' + " ".join(
        f'<span class="cell" style="background:{c}">{s}</span> {E(v)}: {E(m)} &nbsp;'
        for v, (c, s, m) in VERDICT_LOOK.items()) + "<br>Kinds of accepted difference (label in the cell, "
        "reason in its tooltip and when expanded): " + "; ".join(
        f"<b>{E(l)}</b> = {E(k)}: {E(m)}" for k, (l, m) in KINDS.items()) + ".</p>")
    stale = d.get("stale_accepted") if isinstance(d, dict) else None
    if stale:
        out.append('<p class="notice">Accepted entries that no longer differ (remove them from '
                   'conformance/accepted.json): ' +
                   ", ".join(f"{E(a.get('scenario', '?'))} on {E(a.get('column', '?'))}" for a in stale) + "</p>")
    out.append("<h3>Second vsock topology: guest kernel driver → vhost-user → sp-vhost-vsock</h3>")
    out.append(topology_section(d, notes))
    out.append("<h3>Where the reference kernels differ from each other</h3>")
    out.append(kernel_diff_section(d, cells, scen, cols, info))
    out.append("<h3>Matrix: scenario × column</h3>")
    out.append('<table class="matrix" id="conformance-matrix"><tr><th>scenario</th><th>proto</th>' +
               "".join(f"<th>{E(c)}</th>" for c in cols) + "</tr>")
    for s in sorted(scen, key=lambda n: (scen[n][0], n)):
        proto, what = scen[s]
        row = [f'<tr><td title="{E(what)}">{E(s)}</td><td>{E(proto)}</td>']
        for c in cols:
            r = cells.get((s, c))
            if not r:
                row.append('<td class="v-none">·</td>')
                continue
            v = r.get("verdict", "skipped")
            colour, sym, _ = VERDICT_LOOK.get(v, ("#ffffff", "?", ""))
            reason = r.get("reason") or ""
            tip = reason
            if v == "accepted":
                kind = r.get("kind") or "unspecified"
                sym += f' <span class="kind">{E(KINDS.get(kind, (kind,))[0])}</span>'
                tip = f"accepted difference, kind {kind}: {reason}"
            if v in ("diverge", "accepted", "error"):
                body = f'<p>{E(tip)}</p>'
                if r.get("first_difference") and r.get("first_difference") != reason:
                    body += f'<p>{E(r["first_difference"])}</p>'
                body += ('<div class="traces"><div><b>' + E(c) + "</b>" + steps_html(r.get("trace")) +
                         "</div><div><b>" + E(r.get("reference") or "reference") + "</b>" +
                         steps_html(r.get("reference_trace")) + "</div></div>")
                row.append(f'<td class="v-{E(v)}" style="background:{colour}" title="{E(tip)}"><details>'
                           f"<summary>{sym}</summary>{body}</details></td>")
            else:
                row.append(f'<td class="v-{E(v)}" style="background:{colour}" title="{E(reason)}">{sym}</td>')
        out.append("".join(row) + "</tr>")
    out.append("</table>")
    return "\n".join(out), d


def glance(rows, backends, d):
    """Two lines for a reader who reads nothing else."""
    out = []
    if rows:
        out.append(f"Benchmark: {len(rows)} points from {len(backends)} backend(s) ({', '.join(backends)}).")
    else:
        out.append("Benchmark: no data (see below).")
    if isinstance(d, dict) and isinstance(d.get("results"), list):
        counts = {}
        for r in d["results"]:
            if isinstance(r, dict) and r.get("column") == "sendpath":
                v = r.get("verdict", "skipped")
                counts[v] = counts.get(v, 0) + 1
        sc = d.get("scenarios") or {}
        line = (f"Conformance: {sum(v for v in sc.values() if isinstance(v, int))} scenarios "
                f"({', '.join(f'{n} {p}' for p, n in sc.items())}); sendpath: " +
                ", ".join(f"{counts.get(v, 0)} {v}" for v in ("match", "accepted", "diverge", "error", "skipped")))
        topo = [t for t in d.get("topologies") or [] if isinstance(t, dict)]
        if topo:
            line += "; vhost-user topology: " + ", ".join(
                f"{t.get('column', '?')} {'pass' if t.get('ok') else 'FAIL'}" for t in topo)
        out.append(line + ".")
    return "<p class='glance'>" + "<br>".join(E(x) for x in out) + "</p>"


CSS = """
body{font-family:sans-serif;margin:2em;max-width:1300px;color:#222}
h1{margin-bottom:0} .machine{color:#555;margin-top:.3em} .nav{font-size:14px}
.glance{background:#f4f8fb;border-left:4px solid #3182bd;padding:.4em .8em}
.notice{background:#fff4e5;border-left:4px solid #f0a020;padding:.4em .8em}
table{border-collapse:collapse;margin:.5em 0 1.5em} td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}
table.data td{text-align:right;white-space:nowrap} table.data td:last-child{text-align:left;color:#666;white-space:normal}
td.warn{background:#fcbba1} figure{margin:1em 0} figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:12px;color:#555} pre{font-size:11px;margin:0;white-space:pre-wrap}
table.summary td.why{font-size:11px;color:#555;max-width:420px} table.matrix td{text-align:center} table.matrix td:first-child{text-align:left}
.traces{display:flex;gap:1em;text-align:left} .traces div{flex:1}
.cell{display:inline-block;min-width:1.6em;text-align:center;border:1px solid #ccc}
code{background:#f4f4f4;padding:1px 4px} .about{color:#555;font-style:italic}
.kind{font-size:10px;color:#555} td.ok{background:#c7e9c0}
table.kdiff td,#conformance-topologies td:nth-child(-n+3){text-align:left} table.kdiff td.why{max-width:700px} table.kdiff summary{cursor:pointer}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="report directory")
    ap.add_argument("--csv")
    ap.add_argument("--json")
    ap.add_argument("--conformance")
    ap.add_argument("--command", action="append", default=[], help="a command that produced this (repeatable)")
    ap.add_argument("--lowload", help="CSV of a paced run (latency at low load)")
    ap.add_argument("--title", default="sendpath: benchmark and conformance report")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    plots = os.path.join(out, "plots")
    os.makedirs(plots, exist_ok=True)
    csv_path = a.csv or os.path.join(out, "bench.csv")
    json_path = a.json or os.path.join(out, "bench.json")
    conf = a.conformance
    if not conf:
        for p in (os.path.join(out, "conformance.json"), os.path.join(out, "conformance", "conformance.json")):
            if os.path.exists(p):
                conf = p
                break
    notes = Notes()
    rows, csv_msg = load_csv(csv_path, notes)
    j = load_json(json_path, notes) if os.path.exists(csv_path) else {}
    status = j.get("backends", []) if isinstance(j.get("backends"), list) else []
    backends = present(rows)
    caption = machine_line(j)
    data = os.path.join(plots, "data")
    os.makedirs(data, exist_ok=True)
    figs = []

    # throughput against size, at the main batch and at batch 1
    batches = sorted({int(r["batch"]) for r in rows})
    for batch in sorted({pick(batches, [32, 64, 16]), pick(batches, [1])} - {None}):
        bk = [b for b in backends if any(r["backend"] == b and int(r["batch"]) == batch for r in rows)]
        for metric, what in (("msgs", "messages/s"), ("gbit", "Gbit/s of payload")):
            png = gnuplot("throughput_size.gp", os.path.join(plots, f"throughput-size-{metric}-b{batch}"),
                          {"csv": csv_path, "backends": " ".join(bk), "batch": batch, "metric": metric,
                           "caption": caption}, notes, "plots") if bk else None
            figs.append(figure(png, f"Throughput ({what}) against message size, batch {batch}.",
                               f"No throughput-vs-size plot for batch {batch}: no backend has data."))
    # throughput against batch at a small size
    sizes = sorted({int(r["size"]) for r in rows})
    size = pick(sizes, [64, 16, 256])
    if size is not None and len(batches) > 1:
        bk = [b for b in backends if any(r["backend"] == b and int(r["size"]) == size for r in rows)]
        png = gnuplot("throughput_batch.gp", os.path.join(plots, f"throughput-batch-s{size}"),
                      {"csv": csv_path, "backends": " ".join(bk), "size": size, "caption": caption}, notes, "plots")
        figs.append(figure(png, f"Message rate against batch size, {size}-byte messages.", ""))
    else:
        figs.append(figure(None, "", "No throughput-vs-batch plot: the run has a single batch size or no data."))
    # speed-ups and fraction of the ceiling
    for name, pairs, title in (("speedup", SPEEDUPS, "Speed-up of sendpath over the kernel"),
                               ("ceiling", CEILING, "Fraction of the DPDK txonly ceiling")):
        sp = speedup_rows(rows, pairs)
        sp_batch = pick([s[2] for s in sp], [32, 64, 16, 1])
        if sp:
            # gnuplot word lists split on blanks: the pair names go without them
            sp = [(p[0].replace(" ", ""),) + p[1:] for p in sp]
            path = os.path.join(data, f"{name}.csv")
            write_csv(path, ["pair", "size", "batch", "ratio"], sp)
            names = []
            for p in sp:
                if p[2] == sp_batch and p[0] not in names:
                    names.append(p[0])
            png = gnuplot("speedup.gp", os.path.join(plots, f"{name}-b{sp_batch}"),
                          {"csv": path, "pairs": " ".join(names), "batch": sp_batch,
                           "caption": caption, "ytitle": title}, notes, "plots")
            why = ("Above 1: the sendpath path sends more messages per second than its kernel counterpart "
                   "at the same size and batch. kernel-vsock runs in an emulated (TCG) QEMU guest, so its "
                   "ratio overstates the gain." if name == "speedup" else
                   "dpdk-txonly is DPDK testpmd's txonly over the same virtio-user → vhost-user pair with no "
                   "stack at all: the ceiling. Its largest size is the port's, so points at 64K compare "
                   "nearby sizes.")
            figs.append(figure(png, f"{title} (messages/s ratio), batch {sp_batch}. {why}", ""))
        else:
            have = ", ".join(backends) or "none"
            figs.append(figure(None, "", f"No plot '{title}': it needs both backends of a pair "
                                         f"({'; '.join(a + ' and ' + b for a, b in pairs)}); backends with data: {have}."))
    # latency: from the paced low-load run when there is one (the figure users ask for),
    # else from the sweep's unpaced points (queueing at saturation)
    low_json = {}
    if a.lowload:
        lj = os.path.join(os.path.dirname(a.lowload), "bench.json")
        if os.path.exists(lj):
            low_json = load_json(lj, Notes())
    src, load = (low_json, "at a paced low load") if low_json.get("rows") else (j, "unpaced (saturated)")
    src_rows = src.get("rows", []) or []
    lat_size = pick([r.get("size") for r in src_rows if r.get("latency")], [64, 16, 256])
    lat_batch = pick([r.get("batch") for r in src_rows if r.get("latency")], [1])
    lat = latency_sets(src, [r.get("backend") for r in src_rows], lat_size, lat_batch) if lat_size else {}
    if lat:
        cdf, pct = [], []
        order = [b for b in BACKENDS if b in lat] + [b for b in lat if b not in BACKENDS]
        for b in order:
            L = lat[b]["latency"]
            if L.get("buckets"):
                total = sum(c for _, c in L["buckets"]) or 1
                acc = 0
                for edge, c in L["buckets"]:
                    acc += c
                    cdf.append((b, max(edge, 1), acc / total))
            pct.append((b, L.get("p50_ns", 0), L.get("p90_ns", 0), L.get("p99_ns", 0), L.get("p999_ns", 0),
                        L.get("max_ns", 0)))
        v = {"size": lat_size, "batch": lat_batch, "caption": caption}
        if cdf:
            write_csv(os.path.join(data, "latency-cdf.csv"), ["backend", "ns", "fraction"], cdf)
            png = gnuplot("latency_cdf.gp", os.path.join(plots, "latency-cdf"),
                          dict(v, csv=os.path.join(data, "latency-cdf.csv"),
                               backends=" ".join(b for b in order if any(c[0] == b for c in cdf))), notes, "plots")
            nob = [b for b in order if not lat[b]["latency"].get("buckets")]
            figs.append(figure(png, f"One-way latency CDF, {lat_size}-byte messages, batch {lat_batch}, {load}. " +
                               (f"No histogram from {', '.join(nob)} (percentiles only, see the next plot)." if nob else ""),
                               ""))
        write_csv(os.path.join(data, "latency-pct.csv"), ["backend", "p50", "p90", "p99", "p999", "max"], pct)
        png = gnuplot("latency_bars.gp", os.path.join(plots, "latency-percentiles"),
                      dict(v, csv=os.path.join(data, "latency-pct.csv")), notes, "plots")
        figs.append(figure(png, f"One-way latency percentiles, {lat_size}-byte messages, batch {lat_batch}, {load}.", ""))
    else:
        figs.append(figure(None, "", "No latency plots: no backend carried payload timestamps "
                                     "(or bench.json with the latency figures is missing)."))

    conf_html, conf_d = conformance_section(conf, notes)
    if conf and os.path.exists(conf) and os.path.abspath(conf) != os.path.join(out, "conformance.json"):
        try:
            with open(conf, "rb") as src, open(os.path.join(out, "conformance.json"), "wb") as dst:
                dst.write(src.read())
        except OSError:
            pass

    commands = list(a.command)
    if j.get("command"):
        commands.append(j["command"])
    if low_json.get("command"):
        commands.append(low_json["command"])
    m = j.get("machine") or {}
    mem = (j.get("memcpy") or {}).get("gbit_per_s")
    cfgj = j.get("config") or {}
    st_rows = "".join(
        f"<tr><td><a href='#t-{E(s.get('name', ''))}'>{E(s.get('name', ''))}</a></td><td>{E(s.get('status', ''))}</td>"
        f"<td>{s.get('rows', 0)}</td><td>{E(s.get('about', ''))}</td><td>{E(s.get('why', ''))}</td></tr>" for s in status)
    for b in backends:
        if not any(s.get("name") == b for s in status):
            st_rows += f"<tr><td>{E(b)}</td><td>ok</td><td>{sum(r['backend'] == b for r in rows)}</td><td></td><td></td></tr>"
    missing = [b for b in BACKENDS if b not in backends]
    page = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{E(a.title)}</title>"
            f"<style>{CSS}</style></head><body>",
            f"<h1>{E(a.title)}</h1><p class='machine'>{E(caption)}</p>",
            "<p class='nav'><a href='#machine'>Machine</a> · <a href='#plots'>Plots</a> · "
            "<a href='#lowload'>Latency at low load</a> · <a href='#tables'>Benchmark tables</a> · "
            "<a href='#conformance'>Conformance</a></p>", glance(rows, backends, conf_d)]
    if notes.items:
        page.append("<h2>Problems with the input</h2><ul>" +
                    "".join(f"<li>{E(w)}: {E(t)}</li>" for w, t in notes.items) + "</ul>")
    page.append("<h2 id='machine'>Machine</h2><table>")
    for k, v in (("CPU", m.get("cpu_model")), ("CPUs online", m.get("cpus_online")), ("kernel", m.get("kernel")),
                 ("DPDK", m.get("dpdk_version")), ("hugepages", m.get("hugepages_note")),
                 ("TSC GHz", m.get("tsc_ghz")), ("host", m.get("hostname")), ("date", m.get("date")),
                 ("load average at start (1, 5, 15 min)", " ".join((m.get("loadavg") or "").split()[:3])),
                 ("memcpy, one core, 64 KiB blocks", f"{mem:.1f} Gbit/s" if isinstance(mem, (int, float)) and mem else None),
                 ("sweep", ", ".join(f"{k}={v}" for k, v in cfgj.items()) or None)):
        page.append(f"<tr><th>{E(k)}</th><td>{E(str(v)) if v not in (None, '') else 'unknown'}</td></tr>")
    page.append("</table><h2>Commands</h2>")
    page.append("".join(f"<p><code>{E(c)}</code></p>" for c in commands) or "<p>unknown</p>")
    page.append("<h2>Backends</h2>")
    if st_rows:
        page.append("<table class='backends'><tr><th>backend</th><th>status</th><th>rows</th><th>what it measures</th>"
                    "<th>why not ok</th></tr>" + st_rows + "</table>")
    if missing:
        page.append(f"<p class='notice'>No rows from: {E(', '.join(missing))}. Their tables below say why.</p>")
    page.append("<h2 id='plots'>Plots</h2>" + csv_msg + "\n".join(figs))
    page.append("<h2 id='lowload'>Latency at low load</h2>" + lowload_table(a.lowload, notes))
    page.append("<h2 id='tables'>Benchmark tables</h2>" + (csv_msg or "") + bench_tables(rows, backends, status))
    page.append("<h2 id='conformance'>Conformance matrix</h2>" + conf_html)
    page.append("</body></html>")
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write("\n".join(page))
    print(f"report: {os.path.join(out, 'index.html')} ({len(rows)} benchmark rows, {len(notes.items)} input problem(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
