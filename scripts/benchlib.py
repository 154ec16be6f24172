"""Shared pieces of the service benchmarks (scripts/bench-http, bench-faces-vs-facenet,
bench-detect-segment): venv bootstrap, a `seer serve` process, keep-alive HTTP posts,
`wrk` runs and Markdown tables. Standard library only."""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEDIA = os.environ.get("SEER_SHARED_MEDIA") or next(
    (path for path in (os.path.join(os.path.dirname(REPO), "shared", "media"), "/work/shared/media")
     if os.path.isdir(path)), "/work/shared/media")
DEFAULT_SEER = os.path.join(REPO, ".build", "release", "seer")


def ensure_venv(name: str, create) -> None:
    """Re-executes the calling script inside REPO/.venv-bench-<name>; `create(venv_python)`
    makes it on first use (after the venv itself exists)."""
    venv = os.path.join(REPO, f".venv-bench-{name}")
    python = os.path.join(venv, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        return
    marker = os.path.join(venv, ".ready")
    if not os.path.exists(marker):
        print(f"creating {venv} (first use)...", file=sys.stderr)
        create(venv, python)
        open(marker, "w").close()
    script = os.path.abspath(sys.argv[0])
    os.execv(python, [python, script] + sys.argv[1:])


def median(values):
    return statistics.median(values) if values else float("nan")


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def load_average() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`seer serve` on a free port with a throwaway database; records the time from
    process start to the first /readyz 200 and the idle RSS after loading."""

    def __init__(self, seer: str, workers: int, threads: int, extra_env=None, queue: int | None = None):
        if not os.access(seer, os.X_OK):
            sys.exit(f"error: {seer} is not an executable; build it with `swift build -c release --product seer`")
        self.port = free_port()
        self.scratch = tempfile.mkdtemp(prefix="seer-bench-")
        command = [seer, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--database", os.path.join(self.scratch, "seer.sqlite"), "--models", os.path.join(REPO, "models"),
                   "--workers", str(workers), "--threads", str(threads)]
        if queue is not None:
            command += ["--queue", str(queue)]
        self.command = command
        self.log = open(os.path.join(self.scratch, "server.log"), "w")
        started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
                                        env=dict(os.environ, **(extra_env or {})))
        self.ready_seconds = self._wait_ready(started)
        time.sleep(0.3)
        self.idle_rss_mib = self.rss_mib()

    def _wait_ready(self, started: float) -> float:
        deadline = started + 120
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                self.log.flush()
                with open(self.log.name) as handle:
                    sys.exit(f"error: seer serve exited with {self.process.returncode}:\n{handle.read()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/readyz")
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.005)
        self.stop()
        sys.exit("error: seer serve did not become ready within 120 s")

    def rss_mib(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Client:
    """One keep-alive connection posting image bodies; returns (client ms, parsed JSON)."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def post(self, path: str, body: bytes, content_type: str = "application/octet-stream"):
        start = time.perf_counter()
        self.connection.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = self.connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise RuntimeError(f"POST {path}: HTTP {response.status}: {data[:300]!r}")
        return elapsed, json.loads(data)

    def close(self):
        self.connection.close()


def seer_samples(port: int, path: str, body: bytes, iterations: int, warmup: int = 1):
    """Client-side latency and the response's timing fields for `iterations` posts."""
    client = Client(port)
    try:
        for _ in range(warmup):
            client.post(path, body)
        samples = []
        for _ in range(iterations):
            elapsed, answer = client.post(path, body)
            timing = answer.get("timing", {})
            samples.append({"client_ms": elapsed, "inference_ms": timing.get("inference_ms", float("nan")),
                            "decode_ms": timing.get("decode_ms", float("nan")),
                            "total_ms": timing.get("total_ms", float("nan")), "answer": answer})
        return samples
    finally:
        client.close()


def seer_version(seer: str) -> str:
    """Seer has no --version: the repository commit (and whether the tree is dirty)."""
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return f"seer git {commit or 'unknown'} ({os.path.relpath(seer, REPO)})"


def wrk_version() -> str:
    result = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    match = re.search(r"wrk [^\s]+", result.stdout + result.stderr)
    return match.group(0) if match else "wrk (version unknown)"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"cannot read wrk duration '{text}'")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, connections: int, duration_s: float, threads: int = 1, script: str | None = None,
            timeout_s: int = 30) -> dict:
    """`wrk --latency`: p50/p90/p99 (ms), requests/s, request and error counts, and
    whatever the script's done() printed."""
    command = ["wrk", "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{max(1, round(duration_s))}s",
               "--timeout", f"{timeout_s}s", "--latency"]
    if script:
        command += ["-s", script]
    command.append(url)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    out = result.stdout
    figures = {"command": " ".join(command), "stdout": out}
    for label, key in (("50%", "p50_ms"), ("90%", "p90_ms"), ("99%", "p99_ms")):
        match = re.search(rf"^\s+{re.escape(label)}\s+(\S+)", out, re.MULTILINE)
        figures[key] = _milliseconds(match.group(1)) if match else float("nan")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    figures["rps"] = float(match.group(1)) if match else float("nan")
    match = re.search(r"(\d+) requests in", out)
    figures["requests"] = int(match.group(1)) if match else 0
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        match = re.search(pattern, out)
        if match:
            errors += sum(int(group) for group in match.groups())
    figures["errors"] = errors
    return figures


def post_file_lua(path: str, content_type: str, collect_timing: bool = True) -> str:
    """A wrk script posting the file's bytes; with collect_timing its done() prints
    `SEER_TIMING` and the p50s of the response bodies' timing fields and their count."""
    script = f"""
local handle = assert(io.open({json.dumps(path)}, "rb"))
wrk.method = "POST"
wrk.body = handle:read("*a")
handle:close()
wrk.headers["Content-Type"] = {json.dumps(content_type)}
"""
    if collect_timing:
        script += r"""
local threads = {}
local fields = {"inference_ms", "decode_ms", "queue_ms", "total_ms"}
function setup(thread) table.insert(threads, thread) end
function init(args) samples = "" end
function response(status, headers, body)
  if status ~= 200 then return end
  local row = {}
  for _, name in ipairs(fields) do
    local value = string.match(body, '"' .. name .. '"%s*:%s*([%d%.eE+-]+)')
    if not value then return end
    table.insert(row, value)
  end
  samples = samples .. table.concat(row, ":") .. ","
end
function done(summary, latency, requests)
  local columns = {}
  for k = 1, #fields do columns[k] = {} end
  for _, thread in ipairs(threads) do
    for row in string.gmatch(thread:get("samples") or "", "([^,]+),") do
      local k = 1
      for value in string.gmatch(row, "[^:]+") do table.insert(columns[k], tonumber(value)); k = k + 1 end
    end
  end
  local n = #columns[1]
  if n == 0 then return end
  local out = {}
  for k = 1, #fields do
    table.sort(columns[k])
    table.insert(out, string.format("%f", columns[k][math.floor((n + 1) / 2)]))
  end
  io.write("SEER_TIMING " .. table.concat(out, " ") .. " " .. n .. "\n")
end
"""
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, prefix="seer-bench-")
    handle.write(script)
    handle.close()
    return handle.name


def wrk_timing(figures: dict) -> dict:
    """p50 of the responses' timing fields (ms) printed by post_file_lua's done()."""
    match = re.search(r"SEER_TIMING ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", figures["stdout"])
    if not match:
        return {"inference_ms": float("nan"), "decode_ms": float("nan"), "queue_ms": float("nan"),
                "total_ms": float("nan"), "count": 0}
    values = [float(group) for group in match.groups()]
    return {"inference_ms": values[0], "decode_ms": values[1], "queue_ms": values[2], "total_ms": values[3],
            "count": int(values[4])}


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(value):
        if isinstance(value, float):
            if value != value:
                return "n/a"
            if abs(value) >= 100:
                return f"{value:.0f}"
            if abs(value) >= 10:
                return f"{value:.1f}"
            return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
        return str(value)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _spin(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        pass


def cpu_control(seconds: float = 3) -> dict:
    """Cores this process tree actually gets: CPU seconds per wall second of 1 and of 2
    busy-looping child processes. On an idle 2-core machine about 1.0 and 2.0; when the
    second figure is not about twice the first, no parallel speed-up can show here."""
    from multiprocessing import Process
    cores = {}
    for count in (1, 2):
        before = os.times()
        children = [Process(target=_spin, args=(seconds,)) for _ in range(count)]
        for child in children:
            child.start()
        for child in children:
            child.join()
        after = os.times()
        used = (after.children_user + after.children_system) - (before.children_user + before.children_system)
        cores[count] = used / seconds
    return cores
