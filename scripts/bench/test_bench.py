"""Checks of scripts/bench's merging and report arithmetic on made-up figures
(the figures themselves come from real runs; these check what is done with
them). Run by scripts/test.sh: python3 scripts/bench/test_bench.py
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import merge  # noqa: E402
import report  # noqa: E402


def lane(cps, p50, p99):
    return {"calls": 40000, "rounds": 10, "calls_per_s": cps, "p50_us": p50, "p99_us": p99,
            "on_cpu_share": 0.97, "cpu_wait_share": 0.01}


def process(bare_p50, call_p50, batch_cps, languages=None):
    run = {
        "meta": {"allocator": "Pooling", "fuel": True, "quick": False},
        "paths": {"bare_1t": lane(35000, bare_p50, 70.0), "call_1t": lane(29000, call_p50, 90.0)},
        "batch": {"calls": 5000, "rounds": 5, "max_parallel": 64, "toolhost_calls_per_s": batch_cps,
                  "bare_2t_calls_per_s": 60000.0, "toolhost_on_cpu_share": 0.97, "toolhost_cpu_wait_share": 0.01,
                  "bare_2t_on_cpu_share": 0.97, "bare_2t_cpu_wait_share": 0.01},
    }
    if languages is not None:
        run["languages"] = languages
    return run


class Merge(unittest.TestCase):
    def test_each_figure_is_the_median_over_processes_and_counts_stay(self):
        runs = [process(28.0, 33.0, 45000.0, languages=[{"lang": "Rust"}]),
                process(27.0, 50.0, 30000.0), process(29.0, 34.0, 46000.0)]
        m = merge.merge(runs)
        self.assertEqual(m["processes"], 3)
        self.assertEqual(m["paths"]["bare_1t"]["p50_us"], 28.0)
        self.assertEqual(m["paths"]["call_1t"]["p50_us"], 34.0)  # the slow process does not move it
        self.assertEqual(m["paths"]["call_1t"]["calls"], 40000)
        self.assertEqual(m["batch"]["toolhost_calls_per_s"], 45000.0)
        self.assertEqual(m["batch"]["max_parallel"], 64)
        self.assertEqual(m["languages"], [{"lang": "Rust"}])  # from the full (first) run
        self.assertEqual(len(m["per_process"]), 3)

    def test_the_spread_names_the_lowest_and_highest_process_ratio(self):
        m = merge.merge([process(28.0, 33.6, 45000.0), process(25.0, 50.0, 45000.0), process(30.0, 33.0, 45000.0)])
        self.assertEqual(report.spread(m, report.p50_vs("call_1t", "bare_1t")),
                         "; p50 ratio per process 1.10–2.00×")
        self.assertEqual(report.spread(merge.merge([process(28.0, 33.0, 1.0)]), lambda p: 1.0), "")

    def test_the_batch_row_shows_the_median_ratio_and_its_spread(self):
        m = merge.merge([process(28.0, 33.0, 45000.0), process(28.0, 33.0, 30000.0), process(28.0, 33.0, 48000.0)])
        proc = {"calls": 5000, "small": 1000, "serve_small": 0.03, "serve": 0.12, "run": 0.2,
                "chuk_batch": 1.0, "chuk_process": 1.5, "chuk_version": "0.26.1",
                "serve_idle_rss_mib": 35.0, "serve_peak_rss_mib": 48.0}
        batch = report.batch_rows(m, proc)[0]
        self.assertIn("0.75× of bare 2 threads; per process 0.50–0.80×", batch)
        self.assertIn("≥ 0.7: met", batch)


BENCH_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench.sh")


class Arguments(unittest.TestCase):
    """bench.sh refuses a bad --processes before it builds or measures anything."""

    def run_sh(self, *args):
        return subprocess.run(["bash", BENCH_SH, *args], capture_output=True, text=True, timeout=60)

    def test_a_bad_process_count_is_refused_with_a_reason(self):
        for args in (["--processes", "0"], ["--processes", "x"], ["--processes"], ["--processes", "-3"]):
            r = self.run_sh(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("--processes needs a count", r.stderr, args)
            self.assertNotIn("==>", r.stderr, "nothing built or measured")

    def test_help_names_the_flag(self):
        r = self.run_sh("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--processes N", r.stdout)


if __name__ == "__main__":
    unittest.main()
