#!/usr/bin/env python3
"""compare.py on hand-made traces: each verdict, accepted entries, stale entries, exit status."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
COMPARE = os.path.join(HERE, "..", "compare.py")


def step(op, ret, err="", sp=0, note="", args="s0"):
    return {"op": op, "args": args, "ret": ret, "errno": err, "sigpipe": sp, "note": note}


def scenario(name, steps, status="ok", reason="", proto="vsock"):
    return {"name": name, "proto": proto, "what": "w", "duration_ms": 1, "status": status,
            "reason": reason, "steps": steps}


def column(name, scenarios, skipped=None):
    d = {"format": "sp-conformance-trace/1", "backend": "kernel", "column": name,
         "kernel": "x", "scenarios": scenarios}
    if skipped:
        d["skipped"] = skipped
    return d


def run(tmp, cols, accepted):
    paths = []
    for c in cols:
        p = os.path.join(tmp, c["column"] + ".json")
        with open(p, "w") as f:
            json.dump(c, f)
        paths.append(p)
    acc = os.path.join(tmp, "accepted.json")
    with open(acc, "w") as f:
        json.dump({"accepted": accepted}, f)
    out = os.path.join(tmp, "m.json")
    r = subprocess.run([sys.executable, COMPARE, "--quiet", "--out", out, "--accepted", acc,
                        "--reference", "vsock=ref"] + paths)
    with open(out) as f:
        return r.returncode, json.load(f)


def verdicts(m, col):
    return {r["scenario"]: r["verdict"] for r in m["results"] if r["column"] == col}


def main():
    failures = passed = 0

    def check(cond, what):
        nonlocal failures, passed
        print(("ok   " if cond else "FAIL ") + what)
        failures += 0 if cond else 1
        passed += 1 if cond else 0

    epipe = [step("send", -1, "EPIPE", 1)]
    ref = column("ref", [scenario("a", epipe), scenario("b", epipe), scenario("c", epipe),
                         scenario("d", epipe)])
    other = column("other", [
        scenario("a", epipe),                                  # match
        scenario("b", [step("send", -1, "EPIPE", 0)]),         # diverge (no SIGPIPE)
        scenario("c", [step("send", -1, "EPIPE", 0)]),         # accepted below
        scenario("d", [], status="error", reason="crashed: signal 11"),
    ])
    with tempfile.TemporaryDirectory() as tmp:
        rc, m = run(tmp, [ref, other], [{"scenario": "c", "column": "other", "kind": "kernel",
                                         "reason": "no SIGPIPE"}])
        v = verdicts(m, "other")
        check(v == {"a": "match", "b": "diverge", "c": "accepted", "d": "error"}, f"verdicts {v}")
        check(verdicts(m, "ref") == {k: "reference" for k in "abcd"}, "reference column")
        check(rc == 1, "a divergence fails the run")
        b = [r for r in m["results"] if r["scenario"] == "b" and r["column"] == "other"][0]
        check("SIGPIPE" in b["first_difference"] and b["reference_trace"], "diff shows both traces")
        check(m["counts"]["other"]["match"] == 1 and m["counts"]["other"]["error"] == 1, "counts")

        rc, m = run(tmp, [ref, column("other", [scenario("a", epipe), scenario("c", epipe)])],
                    [{"scenario": "c", "column": "other", "kind": "bug", "reason": "fixed now"}])
        check(rc == 0, "matches and stale entries do not fail the run")
        check(m["stale_accepted"] == [{"scenario": "c", "column": "other"}], "stale entry reported")
        check(verdicts(m, "other").get("b") == "skipped", "scenario not run is skipped")

        rc, m = run(tmp, [ref, column("sp", [], skipped="not built")], [])
        check(rc == 0 and set(verdicts(m, "sp").values()) == {"skipped"}, "skipped column")
        check(all(r["reason"] == "not built" for r in m["results"] if r["column"] == "sp"),
              "skipped column keeps its reason")
    print(f"{passed} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
