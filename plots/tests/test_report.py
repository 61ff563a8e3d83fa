#!/usr/bin/env python3
"""The report generator end to end: a tiny generated run, rendered by headless Chromium.

Checks that every plot image of report/index.html loads in a real browser, that the
conformance matrix table is there with its expandable divergences, and that bad input
(missing, truncated or empty CSV, a backend without data, no conformance file) gives a
page that says so instead of failing. Exit 0 pass, 1 fail, 77 skip (meson's code).
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "make-report.py")
HEADER = ("backend,size,batch,msgs_per_s,gbit_per_s,ns_per_msg,cycles_per_msg,p50_ns,p99_ns,p999_ns,max_ns,"
          "sent,received,p90_ns,cpu_ns_per_msg,dropped,eagain,calls,seconds,rate,target,call,mode,status,note")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def sample(dirname, backends=("kernel-udp", "dpdk-txonly", "sendpath-udp")):
    """A plausible run: rates, histograms and a conformance matrix with every verdict."""
    rnd = random.Random(7)
    rows, jrows = [HEADER], []
    for b in backends:
        base = {"kernel-udp": 3e5, "dpdk-txonly": 2e7, "sendpath-udp": 1.5e7}.get(b, 1e6)
        for batch in (1, 32):
            for size in (16, 64, 1024, 65507):
                rate = base / (1 + size / 4096) * (1 if batch == 1 else 1.5)
                sent = int(rate * 0.5)
                lat = None if b == "dpdk-txonly" else {
                    "count": sent, "min_ns": 900, "mean_ns": 3000.0, "p50_ns": 2000, "p90_ns": 4000,
                    "p99_ns": 9000, "p999_ns": 20000, "max_ns": 50000,
                    "buckets": [[e, rnd.randint(1, 1000)] for e in (1023, 2047, 4095, 8191, 16383, 50000)]}
                if lat and b == "sendpath-udp":  # the peer's histogram (sp-net-sink), buckets passed on
                    lat["source"] = "peer"
                p = lat or {}
                rows.append(f"{b},{size},{batch},{rate:.0f},{rate * size * 8 / 1e9:.4f},{1e9 / rate:.2f},"
                            f"{2.6e9 / rate:.1f},{p.get('p50_ns', '')},{p.get('p99_ns', '')},{p.get('p999_ns', '')},"
                            f"{p.get('max_ns', '')},{sent},{sent},{p.get('p90_ns', '')},{1e9 / rate:.2f},0,0,{sent},"
                            f"0.5,0,lo,sendmmsg,block,ok,")
                jrows.append({"backend": b, "size": size, "batch": batch, "rate": 0, "latency": lat})
    with open(os.path.join(dirname, "bench.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    status = [{"name": b, "about": f"about {b}", "status": "ok", "why": "", "rows": 8} for b in backends]
    status.append({"name": "sendpath-vsock", "about": "vsock", "status": "skipped", "why": "not built", "rows": 0})
    with open(os.path.join(dirname, "bench.json"), "w") as f:
        json.dump({"machine": {"cpu_model": "Test CPU", "cpus_online": 2, "kernel": "Linux test",
                               "dpdk_version": "22.11", "hugepages": True, "date": "2026-01-01"},
                   "command": "sp-bench --sample", "memcpy": {"gbit_per_s": 100.0},
                   "backends": status, "rows": jrows}, f)
    steps = [{"op": "send", "args": "64", "ret": 64, "errno": "", "sigpipe": 0, "note": ""}]
    bad = [{"op": "send", "args": "64", "ret": -1, "errno": "EPIPE", "sigpipe": 0, "note": ""}]
    res = []
    for i, v in enumerate(("match", "accepted", "diverge", "skipped", "error")):
        for col in ("kernel-6.1", "kernel-6.12", "sendpath"):
            cell = {"scenario": f"scn_{i}_{v}", "proto": "vsock", "what": v, "column": col}
            if col == "kernel-6.12":
                cell.update(verdict="reference", reason="")
            elif col == "kernel-6.1":
                cell.update(verdict="match", reason="")
            else:
                cell.update(verdict=v, reason=f"why {v}", trace=bad if v != "match" else steps,
                            reference="kernel-6.12", reference_trace=steps)
                if v == "accepted":
                    cell["kind"] = "extension"
            res.append(cell)
    # the kernels differ from each other: 6.1 raises no SIGPIPE, 6.12 (the reference) does
    pipe = [{"op": "send", "args": "s0 len=10 flags=0", "ret": -1, "errno": "EPIPE", "sigpipe": 1, "note": ""}]
    nopipe = [dict(pipe[0], sigpipe=0)]
    for col, cell in (("kernel-6.1", {"verdict": "accepted", "kind": "kernel", "reason": "6.1 raises no SIGPIPE",
                                      "trace": nopipe, "reference": "kernel-6.12", "reference_trace": pipe}),
                      ("kernel-6.12", {"verdict": "reference", "reason": ""}),
                      ("sendpath", {"verdict": "match", "reason": ""})):
        res.append(dict(cell, scenario="scn_kernels_differ", proto="vsock", what="EPIPE and SIGPIPE", column=col))
    columns = [{"name": "kernel-6.1", "backend": "kernel", "kernel": "6.1.0-56-amd64", "skipped": None,
                "boot_and_run_s": 30.1, "duration_s": 20.0},
               {"name": "kernel-6.12", "backend": "kernel", "kernel": "6.12.117+deb12-amd64", "skipped": None,
                "boot_and_run_s": 28.2, "duration_s": 20.0},
               {"name": "sendpath", "backend": "sendpath", "kernel": "test", "skipped": None,
                "boot_and_run_s": None, "duration_s": 40.0}]
    topo = [{"format": "sp-vhost-guest/1", "column": k, "kernel": kv, "bytes": 67108864, "boot_and_run_s": 9.5,
             "topology": "guest kernel virtio-vsock -> vhost-user-vsock-pci -> sp-vhost-vsock", "ok": ok,
             "checks": {"guest_pass": ok, "stream_bytes": True, "verify_errors_0": ok},
             "guest": ["vhost-check: sent 67108864 bytes in 1.17 s (57.4 MB/s)",
                       "vhost-check: send after the backend's shutdown -> EPIPE (after 23 bytes)"],
             "backend": {"rx_bytes": 67108887, "verify_errors": 0 if ok else 3, "credit_violations": 0,
                         "conns_accepted": 2, "conns_refused": 1, "rst_sent": 3}}
            for k, kv, ok in (("kernel-6.1", "6.1.0-56-amd64", False), ("kernel-6.12", "6.12.117+deb12-amd64", True))]
    with open(os.path.join(dirname, "conformance.json"), "w") as f:
        json.dump({"format": "sp-conformance-matrix/1", "reference": {"vsock": "kernel-6.12"},
                   "columns": columns, "topologies": topo, "results": res}, f)


def generate(dirname, *extra):
    p = subprocess.run([sys.executable, GEN, "--out", dirname, "--command", "test run", *extra],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def page(dirname):
    with open(os.path.join(dirname, "index.html")) as f:
        return f.read()


def render(dirname, chromium):
    """The page with a probe that reports, after load, how many images decoded."""
    src = page(dirname)
    probe = ("<script>window.addEventListener('load',function(){var im=document.images,ok=0;"
             "for(var i=0;i<im.length;i++)if(im[i].complete&&im[i].naturalWidth>0)ok++;"
             "var d=document.createElement('div');d.id='probe';d.textContent='images '+ok+'/'+im.length+"
             "' matrix '+(document.getElementById('conformance-matrix')?1:0)+"
             "' topologies '+(document.getElementById('conformance-topologies')?1:0)+"
             "' kerneldiff '+(document.getElementById('kernel-differences')?1:0);document.body.appendChild(d);});</script>")
    probe_path = os.path.join(dirname, "probe.html")
    with open(probe_path, "w") as f:
        f.write(src.replace("</body>", probe + "</body>"))
    prof = tempfile.mkdtemp(prefix="sp-chromium-")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={prof}",
            "--virtual-time-budget=5000"]
    try:
        dom = subprocess.run(base + ["--dump-dom", "file://" + probe_path], capture_output=True, text=True,
                             timeout=90).stdout
        shot = os.path.join(dirname, "shot.png")
        subprocess.run(base + [f"--screenshot={shot}", "--window-size=1300,3000", "file://" + probe_path],
                       capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    m = re.search(r'id="probe">images (\d+)/(\d+) matrix (\d) topologies (\d) kerneldiff (\d)', dom)
    return m, os.path.exists(shot) and os.path.getsize(shot) > 1000


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    work = tempfile.mkdtemp(prefix="sp-report-test-")
    try:
        # 1. a good run renders: every image loads, the matrix is there
        good = os.path.join(work, "good")
        os.makedirs(good)
        sample(good)
        rc, out = generate(good)
        check(rc == 0, f"report from a sample run ({out.strip()[-200:]})")
        html = page(good)
        check("gnuplot failed" not in html, "no gnuplot error in the page")
        check(html.count("<img") >= 6, f"{html.count('<img')} plots embedded")
        check("src=\"http" not in html and "<link" not in html and "<script" not in html,
              "self-contained: nothing fetched")
        check('id="conformance-matrix"' in html, "conformance matrix present")
        matrix = html[html.index('id="conformance-matrix"'):]
        matrix = matrix[:matrix.index("</table>")]
        check(matrix.count("<details>") == 4, "diverge, accepted and error cells expand to their traces")
        check('<span class="kind">ext</span>' in matrix and "accepted difference, kind extension: why accepted" in matrix,
              "an accepted cell shows its kind (extension) and its reason")
        check("accepted difference, kind kernel: 6.1 raises no SIGPIPE" in matrix, "kernel kind with its reason")
        check(matrix.count("background:#fff3b0") == 2 and "background:#c7e9c0" in matrix
              and "background:#fcbba1" in matrix, "accepted has its own colour, apart from match and diverge")
        check('id="conformance-topologies"' in html, "vhost-user topology table present")
        topo = html[html.index('id="conformance-topologies"'):]
        topo = topo[:topo.index("</table>")]
        check(topo.count("<tr>") == 3 and ">pass<" in topo and ">FAIL<" in topo, "one row per kernel, pass and fail")
        check("57.4" in topo and "guest_pass failed" in topo, "topology figures and the failed check shown")
        check('id="kernel-differences"' in html, "kernel-vs-kernel section present")
        kd = html[html.index('id="kernel-differences"'):]
        kd = kd[:kd.index("</table>")]
        check("scn_kernels_differ" in kd and "SIGPIPE x1" in kd and kd.count("<tr>") == 2,
              "kernel-vs-kernel lists exactly the scenario where 6.1 and 6.12 differ, with the step")
        check("No data for sendpath-vsock" in html, "skipped backend says why in place")
        check(os.path.exists(os.path.join(good, "plots", "speedup-b32.svg")), "SVG files written")
        with open(os.path.join(good, "plots", "data", "latency-cdf.csv")) as f:
            cdf = f.read()
        check("sendpath-udp," in cdf and "kernel-udp," in cdf, "latency CDF has a sendpath-udp line (peer's buckets)")
        if chromium:
            m, shot = render(good, chromium)
            check(m is not None, "chromium rendered the page and ran the probe")
            if m:
                check(m.group(1) == m.group(2) and int(m.group(2)) >= 6, f"every plot loads ({m.group(1)}/{m.group(2)})")
                check(m.group(3) == "1", "matrix table in the rendered DOM")
                check(m.group(4) == "1" and m.group(5) == "1", "topology table and kernel differences in the rendered DOM")
            check(shot, "screenshot taken")
        else:
            print("skip chromium not installed: rendering not checked")

        # 2. bad input: each gives a page that says so, never a failure
        cases = {
            "missing": lambda d: None,
            "empty": lambda d: open(os.path.join(d, "bench.csv"), "w").write(HEADER + "\n"),
            "truncated": lambda d: (sample(d), open(os.path.join(d, "bench.csv"), "a").write("kernel-udp,64,1,12")),
            "garbage": lambda d: open(os.path.join(d, "bench.csv"), "w").write("\x00\x01 not a csv\n"),
            "one-backend": lambda d: sample(d, backends=("kernel-udp",)),
        }
        for name, make in cases.items():
            d = os.path.join(work, name)
            os.makedirs(d)
            make(d)
            if name == "one-backend":
                os.remove(os.path.join(d, "conformance.json"))
            rc, out = generate(d)
            check(rc == 0, f"{name}: report generated ({out.strip()[-160:]})")
            if rc:
                continue
            html = page(d)
            check("gnuplot failed" not in html, f"{name}: no gnuplot error")
            check('class="notice"' in html, f"{name}: the page says what is missing")
            if name == "one-backend":
                check("No conformance results" in html, f"{name}: missing conformance said in place")
                check("needs both backends" in html, f"{name}: speed-up without a pair said in place")
            if name == "truncated":
                check("incomplete" in html, f"{name}: truncated row reported")
            if chromium and name in ("missing", "truncated"):
                m, _ = render(d, chromium)
                check(m is not None and m.group(1) == m.group(2), f"{name}: page renders, images load")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
