"""Renders scripts/bench.sh's figures as one markdown table (or, with --json,
prints them merged). Inputs: the side_by_side bench's JSON, processes.py's
JSON and the machine facts bench.sh gathered. Every number comes from those
files; goals are the ones of issue 15, marked met / not met.

Usage: python report.py SIDE.json PROCESSES.json META.json [--json]
"""

import json
import sys


def cps(x):
    return f"{x:,.0f}"


def us(x):
    return f"{x:,.1f}" if x < 1000 else f"{x:,.0f}"


def times(x):
    return f"{x:.2f}×"


# A measuring thread that waited for a core this share of its wall time ran
# under other load: figures from it say more about the machine than the code.
BUSY = 0.15


def busy(*samples):
    return any(s.get("cpu_wait_share", 0) >= BUSY for s in samples)


def goal(text, ok, loaded=False):
    verdict = "met" if ok else "**not met**"
    return f"{text}: {verdict}" + (" (*under load*)" if loaded else "")


def row(path, calls_per_s="—", p50="—", p99="—", ratio="—", goals="", note=""):
    return f"| {path} | {calls_per_s} | {p50} | {p99} | {ratio} | {goals} | {note} |"


def cpu(on, waited):
    """Where the measuring threads' wall time went; flagged when other load kept them waiting for a core."""
    text = f"on CPU {on:.0%}, waiting for a core {waited:.0%}"
    return text if waited < BUSY else f"**{text}: other load**"


def lane(path, s, ratio="—", goals="", note=""):
    if "on_cpu_share" in s:
        note = f"{note}; {cpu(s['on_cpu_share'], s['cpu_wait_share'])}"
    return row(path, cps(s["calls_per_s"]), us(s["p50_us"]), us(s["p99_us"]), ratio, goals, note)


def span(values, label):
    """`; LABEL lo–hi×` over the processes' values ("" for one process)."""
    return f"; {label} {min(values):.2f}–{max(values):.2f}×" if len(values) > 1 else ""


def spread(side, ratio):
    """The range of `ratio(paths)` over the processes the figures are medians of ("" for one process)."""
    runs = [r for r in side.get("per_process", []) if r.get("paths")]
    return span([ratio(r["paths"]) for r in runs], "p50 ratio per process")


def p50_vs(lane, base):
    return lambda paths: paths[lane]["p50_us"] / paths[base]["p50_us"]


def call_rows(side):
    """Bare floor, Host::invoke, Host::call on 1 and 2 threads, cache hit, and the machine's ceiling."""
    p = side["paths"]
    b1, b2, inv, c1, c2, hit = (p[k] for k in ("bare_1t", "bare_2t", "invoke_1t", "call_1t", "call_2t", "hit_1t"))
    bare_scale = b2["calls_per_s"] / b1["calls_per_s"]
    call_scale = c2["calls_per_s"] / c1["calls_per_s"]

    def vs(s, base):
        r50, r99 = s["p50_us"] / base["p50_us"], s["p99_us"] / base["p99_us"]
        return r50, r99, f"p50 {times(r50)} · p99 {times(r99)} of bare"

    i50, i99, inv_ratio = vs(inv, b1)
    c1_50, c1_99, c1_ratio = vs(c1, b1)
    c2_50, c2_99, c2_ratio = vs(c2, b2)
    fresh_over_hit = c1["p50_us"] / hit["p50_us"]
    rows = [
        lane("bare wasmtime, 1 thread (floor)", b1, note="fresh Store + InstancePre instantiate + call `ok`, the host's engine"),
        lane("bare wasmtime, 2 OS threads", b2, f"{times(bare_scale)} of 1 thread",
             goal("scaling ≥ 1.8×", bare_scale >= 1.8, busy(b1, b2)), "throughput scaling of the floor itself"),
        lane("`Host::invoke`, 1 thread", inv, inv_ratio + spread(side, p50_vs("invoke_1t", "bare_1t")),
             note="lookup + validation + sandboxed call, no executor"),
    ]
    if "invoke_2t" in p:
        inv2 = p["invoke_2t"]
        rows.append(lane("`Host::invoke`, 2 OS threads", inv2, vs(inv2, b2)[2] + f"; scaling {times(inv2['calls_per_s'] / inv['calls_per_s'])}",
                         note="vs bare on 2 threads: what the runtime adds on two cores, without the executor"))
    rows += [
        lane("`Host::call` defaults, 1 thread", c1, c1_ratio + spread(side, p50_vs("call_1t", "bare_1t")),
             goal("≤ 1.25× / ≤ 1.5×", c1_50 <= 1.25 and c1_99 <= 1.5, busy(b1, c1)), "unique arguments: never a cache hit"),
        lane("`Host::call` defaults, 2 OS threads", c2, c2_ratio + spread(side, p50_vs("call_2t", "bare_2t")),
             goal("≤ 1.25× / ≤ 1.5×", c2_50 <= 1.25 and c2_99 <= 1.5, busy(b2, c2)) + "; "
             + goal(f"scaling {times(call_scale)} ≥ 1.8×", call_scale >= 1.8, busy(c1, c2)),
             f"vs bare on 2 threads; the floor itself scales {times(bare_scale)} here"),
        lane("`Host::call` cache hit, 1 thread", hit, f"{fresh_over_hit:.0f}× faster than a fresh call (p50)",
             goal("≥ 20×", fresh_over_hit >= 20, busy(c1, hit)) + "; " + goal("≤ 2 µs", hit["p50_us"] <= 2.0, busy(hit)),
             "result cache on"),
    ]
    if "cpu_1t" in p and "cpu_2t" in p:
        k1, k2 = p["cpu_1t"], p["cpu_2t"]
        rows.append(lane("machine ceiling, 2 OS threads", k2, f"{times(k2['calls_per_s'] / k1['calls_per_s'])} of 1 thread",
                         note=f"SHA-256 of 32 KiB per call, no wasmtime, nothing shared ({cps(k1['calls_per_s'])}/s on 1 thread): "
                              "the most two busy cores of this machine give"))
    return rows


def batch_rows(side, proc):
    """The executor's batch, serve, run and chuk, with their ratios."""
    b = side["batch"]
    floor = b["bare_2t_calls_per_s"]
    th = b["toolhost_calls_per_s"]
    n, small = proc["calls"], proc["small"]
    serve_small, serve = small / proc["serve_small"], n / proc["serve"]
    run, chuk_batch, chuk_proc = n / proc["run"], n / proc["chuk_batch"], n / proc["chuk_process"]
    chuk = f"chuk-tool-processor {proc['chuk_version']}"
    runs = [r["batch"] for r in side.get("per_process", []) if r.get("batch")]
    ratios = [r["toolhost_calls_per_s"] / r["bare_2t_calls_per_s"] for r in runs]
    batch_spread = span(ratios, "per process")
    rss = f"serve RSS {proc['serve_idle_rss_mib']:.0f} MiB idle, peak {proc['serve_peak_rss_mib']:.0f} MiB"
    return [
        row(f"`host.run_batch`, {b['calls']:,} `ok` calls", cps(th), ratio=f"{times(th / floor)} of bare 2 threads" + batch_spread,
            goals=goal("≥ 0.7", th / floor >= 0.7,
                       max(b["toolhost_cpu_wait_share"], b["bare_2t_cpu_wait_share"]) >= BUSY),
            note=f"executor, default policies, max_parallel {b['max_parallel']}, 2 worker threads "
                 f"({cpu(b['toolhost_on_cpu_share'], b['toolhost_cpu_wait_share'])}); bare on 2 threads "
                 f"here: {cps(floor)}/s ({cpu(b['bare_2t_on_cpu_share'], b['bare_2t_cpu_wait_share'])})"),
        row(f"`toolhost serve`, {small:,}-call POST /v1/calls", cps(serve_small),
            ratio=f"{times(serve_small / floor)} of bare 2 threads (not interleaved)",
            note=f"{proc['serve_small'] * 1e3:,.0f} ms a batch; loopback HTTP, no process start"),
        row(f"`toolhost serve`, {n:,}-call POST /v1/calls", cps(serve),
            ratio=f"{times(serve / chuk_batch)} of chuk in-process", goals=goal("≥ 5×", serve / chuk_batch >= 5),
            note=f"{proc['serve'] * 1e3:,.0f} ms a batch; {rss}"),
        row(f"`toolhost run`, {n:,} calls, whole process", cps(run),
            ratio=f"{times(run / chuk_proc)} of chuk whole process", goals=goal("≥ 5×", run / chuk_proc >= 5),
            note=f"{proc['run'] * 1e3:,.0f} ms incl. process start, plugin load (warm compile cache)"),
        row(f"{chuk}, {n:,} calls, in-process batch", cps(chuk_batch),
            note=f"`ToolProcessor.process` with library defaults, echo tool; {proc['chuk_batch'] * 1e3:,.0f} ms"),
        row(f"{chuk}, {n:,} calls, whole process", cps(chuk_proc),
            note=f"{proc['chuk_process'] * 1e3:,.0f} ms incl. interpreter start and imports"),
    ]


def language_rows(languages):
    """Fresh, warm and bare per example language."""
    out = []
    for lang in languages:
        name = f"{lang['lang']} `{lang['tool']}`"
        if "skipped" in lang:
            out.append(row(name, note=f"skipped: {lang['skipped']}"))
            continue
        fresh, warm, bare = lang["fresh"], lang["warm"], lang["bare"]
        r = fresh["p50_us"] / bare["p50_us"]
        goals = goal("≤ 1.5×", r <= 1.5, busy(fresh, bare)) if lang["interpreter"] else ""
        out.append(lane(f"{name} fresh", fresh, f"{times(r)} of bare (p50)", goals,
                        f"`Host::call`, a new instance per call; {lang['wasm_kib']:,} KiB component"))
        out.append(lane(f"{name} warm", warm, f"{fresh['p50_us'] / warm['p50_us']:.1f}× faster than fresh",
                        note="`[instances] mode = \"warm\"`"))
        out.append(lane(f"{name} bare", bare, note="bare wasmtime instantiate + call, same engine and component"))
    return out


def table(side, proc, meta):
    m = side["meta"]
    head = (f"toolhost {meta['commit']} · {meta['nproc']} cores (`nproc`) · {meta['kernel']} · {meta['date']} · "
            f"{meta['rustc']} · load average {meta['load_start']} at start, {meta['load_end']} at end · "
            f"{m['allocator'].lower()} allocator, fuel {'on' if m['fuel'] else 'off'}"
            + (f" · in-process paths and batch: median of {side['processes']} processes" if side.get("processes", 1) > 1 else "")
            + (" · **--quick (smoke run)**" if m.get("quick") else ""))
    lines = [head, "", "| path | calls/s | µs/call p50 | p99 | ratio | goal | note |",
             "|---|---:|---:|---:|---|---|---|"]
    lines += call_rows(side) + batch_rows(side, proc) + language_rows(side["languages"])
    lines += ["", f"*under load*: a measuring thread waited for a core {BUSY:.0%} or more of its wall time "
              "(other processes on the machine); rerun on an idle machine before trusting that verdict. "
              "Throughput is the median of the rounds' rates; p50/p99 are over every call; with several processes, "
              "each in-process figure is the median of the processes' figures and each ratio is taken of those medians."]
    return "\n".join(lines)


def main():
    args = [a for a in sys.argv[1:] if a != "--json"]
    side, proc, meta = (json.load(open(p)) for p in args)
    if "--json" in sys.argv:
        print(json.dumps({"machine": meta, "in_process": side, "processes": proc}, indent=2))
    else:
        print(table(side, proc, meta))


if __name__ == "__main__":
    main()
