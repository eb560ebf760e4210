"""Merges the in-process figures of several side_by_side processes into one.

One process's address layout and core placement put a path in a fast or a
slow mode for the whole process (README, bench section), so bench.sh runs the
`paths` and `batch` measurements in several processes and reports, per
figure, the median over them. The first file is the full run (it alone has
`languages`); each process's own `paths` and `batch` are kept under
`per_process` so the report can show the spread.

Usage: python merge.py FULL.json MORE.json... > MERGED.json
"""

import json
import statistics
import sys

# Counts and settings, the same in every process: not figures to take a median of.
FIXED = {"calls", "rounds", "max_parallel"}


def median_of(dicts):
    """Per key, the median of the numbers under it (keys in FIXED from the first)."""
    out = dict(dicts[0])
    for key, value in dicts[0].items():
        if key not in FIXED and isinstance(value, (int, float)):
            out[key] = statistics.median(d[key] for d in dicts if key in d)
    return out


def merge(runs):
    full = dict(runs[0])
    lanes = full["paths"].keys()
    full["paths"] = {lane: median_of([r["paths"][lane] for r in runs if lane in r["paths"]]) for lane in lanes}
    if "batch" in full:
        full["batch"] = median_of([r["batch"] for r in runs if "batch" in r])
    full["processes"] = len(runs)
    full["per_process"] = [{"paths": r["paths"], "batch": r.get("batch")} for r in runs]
    return full


def main():
    runs = [json.load(open(p)) for p in sys.argv[1:]]
    if not runs:
        sys.exit("usage: merge.py FULL.json MORE.json...")
    print(json.dumps(merge(runs), indent=1))


if __name__ == "__main__":
    main()
