#!/usr/bin/env python3
"""toml-test conformance: every TOML 1.0.0 case through conf/toml-decode.

Usage: toml_test.py TOML_DECODE [SUITE_DIR]
The suite folder is SUITE_DIR, else $DCHAT_TOML_TEST, else ../shared/toml-test next to the
repository root. Without it the test is skipped (exit 77) with a message saying where it looked.
Valid cases must decode to the expected tagged JSON (compared structurally: key order does not
matter, floats compare by value, date-times by meaning); invalid cases must exit 1 with a
message on stderr.
"""
import json
import math
import os
import re
import subprocess
import sys

SKIP = 77


def find_suite(argv):
    candidates = []
    if len(argv) > 2:
        candidates.append(argv[2])
    if os.environ.get("DCHAT_TOML_TEST"):
        candidates.append(os.environ["DCHAT_TOML_TEST"])
    root = os.environ.get("DCHAT_SOURCE_ROOT",
                          os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    candidates.append(os.path.join(root, "..", "shared", "toml-test"))
    for c in candidates:
        if os.path.isfile(os.path.join(c, "files-toml-1.0.0")):
            return c, candidates
    return None, candidates


DT_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})?[Tt ]?(\d{2}:\d{2}:\d{2})?(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")


def norm_datetime(text):
    m = DT_RE.match(text)
    if not m:
        return text
    date, time, frac, off = m.groups()
    frac = (frac or "").rstrip("0")
    if frac == ".":
        frac = ""
    off = (off or "").upper()
    if off in ("+00:00", "-00:00"):
        off = "Z"
    return (date or "", time or "", frac, off)


def norm(v):
    if isinstance(v, dict):
        if set(v.keys()) == {"type", "value"} and isinstance(v.get("value"), str) \
                and isinstance(v.get("type"), str):
            t, s = v["type"], v["value"]
            if t == "float":
                f = float(s)
                return ("float", "nan" if math.isnan(f) else f)
            if t == "integer":
                return ("integer", int(s))
            if t.startswith("datetime") or t.endswith("-local"):
                return (t, norm_datetime(s))
            return (t, s)
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v


def run(decoder, path):
    with open(path, "rb") as f:
        data = f.read()
    return subprocess.run([decoder], input=data, capture_output=True, timeout=20)


def main(argv):
    decoder = argv[1]
    suite, looked = find_suite(argv)
    if suite is None:
        print("SKIP: toml-test suite not found (looked in: %s; set DCHAT_TOML_TEST)"
              % ", ".join(looked))
        return SKIP
    with open(os.path.join(suite, "files-toml-1.0.0")) as f:
        files = [line.strip() for line in f if line.strip().endswith(".toml")]
    failures = []
    counts = {"valid": 0, "invalid": 0}
    for rel in files:
        path = os.path.join(suite, rel)
        res = run(decoder, path)
        if rel.startswith("valid/"):
            counts["valid"] += 1
            with open(path[:-5] + ".json") as f:
                want = json.load(f)
            if res.returncode != 0:
                failures.append("%s: rejected: %s" % (rel, res.stderr.decode(errors="replace").strip()))
                continue
            try:
                got = json.loads(res.stdout)
            except ValueError as e:
                failures.append("%s: decoder printed bad JSON: %s" % (rel, e))
                continue
            if norm(got) != norm(want):
                failures.append("%s: got %s want %s" % (rel, json.dumps(got), json.dumps(want)))
        else:
            counts["invalid"] += 1
            if res.returncode != 1 or not res.stderr.strip():
                failures.append("%s: accepted (exit %d)" % (rel, res.returncode))
            elif res.returncode < 0:
                failures.append("%s: crashed (signal %d)" % (rel, -res.returncode))
    for line in failures:
        print("FAIL", line)
    print("toml-test 1.0.0: %d valid, %d invalid cases, %d failures"
          % (counts["valid"], counts["invalid"], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
