"""The out-of-process half of scripts/bench.sh: `toolhost serve` over HTTP,
`toolhost run` as a whole process, and chuk-tool-processor on the same batch,
rounds interleaved so machine drift hits every side alike. Prints one JSON
object; every figure is the median of the rounds.

The guest is build/fixtures/hostile.wasm (plugin `h`), tool `ok`, which
echoes its arguments; chuk runs an in-process echo tool (chuk_echo.py).
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Room for a 5,000-call batch on POST /v1/calls (the defaults refuse it).
CONFIG = """
[serve]
max_batch_calls = 100000
max_body_bytes = 67108864
body_timeout_ms = 120000
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def batch(n, start=0):
    """`n` distinct calls of `ok`, as the JSON list every side reads."""
    return [{"id": f"c{start + i}", "tool": "ok", "arguments": {"n": start + i}} for i in range(n)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid, field):
    """`VmRSS` or `VmHWM` of a process, KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Serve:
    """A `toolhost serve --http` process on a free loopback port."""

    def __init__(self, args, workdir):
        self.port = free_port()
        self.stderr = open(os.path.join(workdir, "serve.log"), "wb")
        cmd = [args.bin, "serve", "--http", f"127.0.0.1:{self.port}", "--no-watch"] + common(args, workdir)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.conn = None
        self.wait_ready()

    def wait_ready(self):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stderr.flush()
                with open(self.stderr.name, "rb") as f:
                    tail = f.read()[-1000:].decode(errors="replace")
                raise SystemExit(f"toolhost serve exited with {self.proc.returncode}:\n{tail}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    c.close()
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("toolhost serve was not ready within 120 s")

    def post(self, calls):
        """POSTs one batch on the kept-alive connection; returns seconds (request to last byte)."""
        body = json.dumps(calls).encode()
        start = time.perf_counter()
        self.conn.request("POST", "/v1/calls", body=body, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        took = time.perf_counter() - start
        doc = json.loads(data)
        ok = resp.status == 200 and doc.get("ok") and len(doc.get("results", [])) == len(calls)
        if not ok:
            raise SystemExit(f"POST /v1/calls failed: HTTP {resp.status}: {data[:300]!r}")
        return took

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.stderr.close()


def common(args, workdir):
    """Flags every toolhost command here takes: the plugin folder, the config, the compile cache."""
    return ["--plugins", os.path.join(workdir, "plugins"), "-c", os.path.join(workdir, "toolhost.toml"),
            "--cache-dir", args.cache_dir]


def toolhost_run(args, workdir, path):
    """`toolhost run` on the batch file, as a whole process; returns seconds."""
    cmd = [args.bin, "run", path] + common(args, workdir)
    start = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"toolhost run exited with {r.returncode}: {r.stderr[-500:]!r}")
    return took


def chuk(args, n):
    """chuk_echo.py as a whole process; returns (whole-process seconds, its own report)."""
    cmd = [args.chuk_python, os.path.join(HERE, "chuk_echo.py"), str(n)]
    start = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"chuk_echo.py exited with {r.returncode}: {r.stderr[-500:]!r}")
    report = json.loads(r.stdout.decode().strip().splitlines()[-1])
    if report["ok"] != n:
        raise SystemExit(f"chuk: {report['ok']} of {n} calls succeeded")
    return took, report


def setup(args, workdir):
    """The plugin folder (the fixture as plugin `h`), the config and the batch file."""
    os.makedirs(os.path.join(workdir, "plugins"))
    shutil.copy(args.fixture, os.path.join(workdir, "plugins", "h.wasm"))
    with open(os.path.join(workdir, "toolhost.toml"), "w") as f:
        f.write(CONFIG)
    path = os.path.join(workdir, "batch.json")
    with open(path, "w") as f:
        json.dump(batch(args.calls), f)
    return path


def rounds(args, workdir, serve, path):
    """Interleaved rounds; returns every sample per side."""
    s = {"serve_small": [], "serve": [], "run": [], "chuk_process": [], "chuk_batch": []}
    start, version = 10**6, None
    for r in range(args.rounds):
        log(f"  round {r + 1}/{args.rounds}")
        s["serve_small"].append(serve.post(batch(args.small, start)))
        start += args.small
        s["serve"].append(serve.post(batch(args.calls, start)))
        start += args.calls
        s["run"].append(toolhost_run(args, workdir, path))
        took, report = chuk(args, args.calls)
        s["chuk_process"].append(took)
        s["chuk_batch"].append(report["batch_s"])
        version = report["version"]
    return s, version


def measure(args, workdir):
    path = setup(args, workdir)
    log("==> toolhost run (warm-up: fills the compile cache)")
    toolhost_run(args, workdir, path)
    chuk(args, 100)
    log("==> toolhost serve on 127.0.0.1, toolhost run, chuk-tool-processor (interleaved)")
    serve = Serve(args, workdir)
    try:
        idle_kib = rss_kib(serve.proc.pid, "VmRSS")
        serve.post(batch(args.small, 0))
        samples, version = rounds(args, workdir, serve, path)
        peak_kib = rss_kib(serve.proc.pid, "VmHWM")
    finally:
        serve.stop()
    out = {k: statistics.median(v) for k, v in samples.items()}
    out.update(calls=args.calls, small=args.small, rounds=args.rounds, chuk_version=version,
               serve_idle_rss_mib=idle_kib / 1024, serve_peak_rss_mib=peak_kib / 1024)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bin", required=True, help="the release toolhost binary")
    p.add_argument("--fixture", required=True, help="build/fixtures/hostile.wasm")
    p.add_argument("--cache-dir", required=True, help="compile cache of the toolhost commands")
    p.add_argument("--chuk-python", required=True, help="python of the venv with chuk-tool-processor")
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--small", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="toolhost-bench-") as workdir:
        print(json.dumps(measure(args, workdir)))


if __name__ == "__main__":
    main()
