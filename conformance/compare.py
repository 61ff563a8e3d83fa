#!/usr/bin/env python3
"""Compare sp-conformance traces into the conformance matrix (format: conformance/README.md).

    compare.py --out conformance.json [--accepted accepted.json]
               --reference vsock=kernel-6.12 --reference udp=host
               TRACE.json [TRACE.json ...]

Every trace file is one column. For each protocol one column is the reference; every other
column's scenario is 'match' when its trace equals the reference's step for step, 'accepted'
when it differs and accepted.json explains why, 'diverge' when it differs unexplained,
'skipped' (with the reason) when it did not run, 'error' when it crashed, hung or its setup
failed. Exit status 1 when any cell is 'diverge' or 'error'; an accepted entry whose scenario
now matches is reported as stale (a warning: remove it).
"""
import argparse
import datetime
import fnmatch
import json
import sys

# What a step is compared on: everything a user of the call can observe.
STEP_KEYS = ("op", "args", "ret", "errno", "sigpipe", "note")


def load_column(path):
    with open(path) as f:
        d = json.load(f)
    col = {
        "name": d.get("column") or d.get("backend"),
        "backend": d.get("backend", "?"),
        "kernel": d.get("kernel", ""),
        "file": path,
        "skipped": d.get("skipped"),  # a whole column that could not run
        "boot_and_run_s": d.get("boot_and_run_s"),
        "duration_s": d.get("duration_s"),
        "scenarios": {s["name"]: s for s in d.get("scenarios", [])},
    }
    return col


def norm_steps(sc):
    return [tuple(st.get(k) for k in STEP_KEYS) for st in sc.get("steps", [])]


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b)) if len(a) != len(b) else None


def step_text(st):
    if st is None:
        return "(none)"
    op, args, ret, err, sp, note = st
    s = f"{op}({args}) = {ret}"
    if err:
        s += f" {err}"
    if sp:
        s += f" SIGPIPE x{sp}"
    if note:
        s += f" [{note}]"
    return s


def find_accepted(accepted, scenario, column):
    for a in accepted:
        if fnmatch.fnmatch(scenario, a["scenario"]) and fnmatch.fnmatch(column, a["column"]):
            return a
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--accepted")
    ap.add_argument("--reference", action="append", default=[],
                    help="PROTO=COLUMN, e.g. vsock=kernel-6.12")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--topology", action="append", default=[],
                    help="a guest/run-vhost-guest.sh result; failing ones fail the run")
    ap.add_argument("traces", nargs="+")
    args = ap.parse_args()

    refs = dict(r.split("=", 1) for r in args.reference)
    cols = [load_column(p) for p in args.traces]
    by_name = {c["name"]: c for c in cols}
    accepted = []
    if args.accepted:
        with open(args.accepted) as f:
            accepted = json.load(f)["accepted"]
    stale = []  # accepted entries whose scenario no longer diverges

    # Every scenario any column knows, with its protocol.
    scenarios = {}
    for c in cols:
        for name, sc in c["scenarios"].items():
            scenarios.setdefault(name, (sc["proto"], sc.get("what", "")))

    results = []
    counts = {}
    for name in sorted(scenarios, key=lambda n: (scenarios[n][0], n)):
        proto, what = scenarios[name]
        ref_name = refs.get(proto)
        ref_col = by_name.get(ref_name)
        ref_sc = ref_col["scenarios"].get(name) if ref_col else None
        for c in cols:
            sc = c["scenarios"].get(name)
            cell = {"scenario": name, "proto": proto, "what": what, "column": c["name"]}
            if c["skipped"]:
                cell.update(verdict="skipped", reason=c["skipped"])
            elif sc is None:
                cell.update(verdict="skipped", reason=f"not run on {c['name']}")
            elif sc["status"] == "skipped":
                cell.update(verdict="skipped", reason=sc["reason"])
            elif sc["status"] != "ok":
                cell.update(verdict="error", reason=sc["reason"], trace=sc["steps"])
            elif c["name"] == ref_name:
                cell.update(verdict="reference", reason="")
            elif ref_sc is None or ref_sc["status"] != "ok":
                why = "no reference column" if ref_col is None else (
                    "reference did not run it" if ref_sc is None else
                    f"reference {ref_sc['status']}: {ref_sc['reason']}")
                cell.update(verdict="skipped", reason=why)
            else:
                a, b = norm_steps(sc), norm_steps(ref_sc)
                i = first_difference(a, b)
                if i is None:
                    cell.update(verdict="match", reason="")
                    acc = find_accepted(accepted, name, c["name"])
                    if acc:
                        stale.append(acc)
                else:
                    acc = find_accepted(accepted, name, c["name"])
                    diff = (f"step {i + 1}: {step_text(a[i] if i < len(a) else None)}"
                            f" | reference: {step_text(b[i] if i < len(b) else None)}")
                    if acc:
                        cell.update(verdict="accepted", reason=acc["reason"],
                                    kind=acc.get("kind", ""))
                    else:
                        cell.update(verdict="diverge", reason=diff)
                    cell.update(first_difference=diff, trace=sc["steps"],
                                reference=ref_name, reference_trace=ref_sc["steps"])
            results.append(cell)
            cc = counts.setdefault(c["name"], {"match": 0, "accepted": 0, "diverge": 0,
                                               "skipped": 0, "error": 0, "reference": 0})
            cc[cell["verdict"]] += 1

    out = {
        "format": "sp-conformance-matrix/1",
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "reference": refs,
        "columns": [{k: c[k] for k in ("name", "backend", "kernel", "skipped",
                                       "boot_and_run_s", "duration_s", "file")} for c in cols],
        "scenarios": {"vsock": sum(1 for p, _ in scenarios.values() if p == "vsock"),
                      "udp": sum(1 for p, _ in scenarios.values() if p == "udp")},
        "counts": counts,
        "stale_accepted": [{"scenario": a["scenario"], "column": a["column"]} for a in stale],
        "results": results,
    }
    topologies = []
    for p in args.topology:
        try:
            with open(p) as f:
                topologies.append(json.load(f))
        except (OSError, ValueError) as e:
            topologies.append({"file": p, "ok": False, "error": str(e)})
    out["topologies"] = topologies
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)

    bad = [r for r in results if r["verdict"] in ("diverge", "error")]
    if not args.quiet:
        print(f"{'column':<14} {'match':>6} {'accepted':>9} {'diverge':>8} {'skipped':>8} "
              f"{'error':>6} {'reference':>10}")
        for c in cols:
            n = counts.get(c["name"], {})
            print(f"{c['name']:<14} {n.get('match', 0):>6} {n.get('accepted', 0):>9} "
                  f"{n.get('diverge', 0):>8} {n.get('skipped', 0):>8} {n.get('error', 0):>6} "
                  f"{n.get('reference', 0):>10}")
        for r in bad:
            print(f"{r['verdict'].upper()}: {r['scenario']} on {r['column']}: {r['reason']}")
        for a in stale:
            print(f"STALE accepted entry (no longer diverges): {a['scenario']} on {a['column']}")
        for t in topologies:
            failed = [k for k, v in t.get("checks", {}).items() if not v]
            print(f"topology {t.get('column', '?')}: {t.get('topology', 'vhost-user')}: "
                  f"{'ok' if t.get('ok') else 'FAIL ' + (', '.join(failed) or t.get('error', ''))}"
                  f" ({t.get('boot_and_run_s', '?')} s)")
    return 1 if bad or any(not t.get("ok") for t in topologies) else 0


if __name__ == "__main__":
    sys.exit(main())
