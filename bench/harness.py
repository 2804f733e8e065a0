"""What every `make bench` scenario uses: the knobs, the load generators (wrk; hey for a fixed rate), the servers
(gunicorn as the Procfile runs it, a redis-server of the bench's own), worker RSS and cache statistics, and
the report's parts (medians, paired ratios, pass/miss lines, the machine)."""
from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from local_supabase.embedded_postgres import free_port
from local_supabase.stack import stop

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".local" / "bench"
WRK_SCRIPT = REPO / "bench" / "wrk.lua"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


def setting(name: str, default: int, low: int, high: int) -> int:
    value = int(os.environ.get(name, default))
    if not low <= value <= high:
        raise SystemExit(f"{name} must be between {low} and {high}")
    return value


DURATION = setting("BENCH_DURATION", 2 if QUICK else 3, 1, 300)
ROUNDS = setting("BENCH_ROUNDS", 3 if QUICK else 7, 1, 50)
WARMUP = setting("BENCH_WARMUP", 2, 0, 60)
CONNECTIONS = setting("BENCH_CONNECTIONS", 64, 1, 1024)
USERS = setting("BENCH_USERS", 20, 1, 1000)


# ---------------------------------------------------------------------------------------------- tools
def debian_tool(binary: str, package: str) -> str:
    """A tool from Debian's packages, installed when missing and we may (root with apt-get)."""
    found = shutil.which(binary)
    if not found and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"{binary} is missing: installing {package} from Debian's packages", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", package]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
            subprocess.run(install, env=env, check=True, capture_output=True)
        found = shutil.which(binary)
    if not found:
        raise SystemExit(f"make bench needs {binary}: `sudo apt-get install {package}` (Debian/Ubuntu)")
    return found


@dataclass
class Result:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0

    @classmethod
    def median(cls, rounds: list["Result"]) -> "Result":
        """Median req/s, p50 and p99 of the rounds; errors and requests summed."""
        return cls(rounds[0].label, statistics.median(r.rps for r in rounds),
                   statistics.median(r.p50_ms for r in rounds), statistics.median(r.p99_ms for r in rounds),
                   sum(r.errors for r in rounds), sum(r.requests for r in rounds))


def load(label: str, url: str, tokens: Path | None, method: str = "GET", patch: bool = False,
         seconds: int = DURATION, connections: int = CONNECTIONS, first: int | None = None) -> Result:
    """One wrk run against `url`: a single wrk thread (the other core is the server's), keep-alive
    connections, a 5 s request timeout, each request with a random token of `tokens` (with `first`: the
    tokens in file order from that line on), every non-2xx answer counted as an error."""
    argv = [debian_tool("wrk", "wrk"), "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
            "--latency", "-s", str(WRK_SCRIPT), url, "--", str(tokens) if tokens else "-", method]
    if patch:
        argv.append("patch")
    elif first is not None:
        argv += ["each", str(first)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed on {label}:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.partition(" ")[2])
    errors = sum(raw[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    return Result(label, raw["requests"] / (raw["duration_us"] / 1e6), raw["p50_us"] / 1e3,
                  raw["p99_us"] / 1e3, errors, int(raw["requests"]))


Plan = list[tuple[str, str, "Path | None", str, bool]]  # label, url, tokens, method, patch


def take_turns(plan: Plan, rounds: int = ROUNDS, warmup: int = WARMUP, note: str = "") -> dict[str, list[Result]]:
    """Each route of `plan` after a warm-up, then `rounds` rounds in which the routes take turns."""
    for label, url, tokens, method, patch in plan:
        if warmup:
            load(label, url, tokens, method, patch, seconds=warmup)
    results: dict[str, list[Result]] = {label: [] for label, *_ in plan}
    for number in range(1, rounds + 1):
        print(f"  {note}round {number} of {rounds}", flush=True)
        for label, url, tokens, method, patch in plan:
            results[label].append(load(label, url, tokens, method, patch))
    return results


# ------------------------------------------------------------------------------------------------ servers
def gunicorn_argv(app_module: str) -> list[str]:
    """The Procfile's `web:` command, with the venv's gunicorn and `app_module` in place of wsgi:app."""
    web = next(line for line in (REPO / "Procfile").read_text().splitlines() if line.startswith("web:"))
    argv = shlex.split(web.removeprefix("web:"))
    argv[0] = str(Path(sys.executable).with_name(argv[0]))
    argv[argv.index("wsgi:app")] = app_module
    return argv


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.2)


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path
    name: str

    def stop(self) -> None:
        stop(self.process, self.name)

    def workers(self) -> list[int]:
        import psutil  # a dependency of pgserver, so present wherever `make run` works

        return sorted(child.pid for child in psutil.Process(self.process.pid).children())

    def peak_rss_mb(self) -> list[float]:
        return [peak_rss_mb(pid) for pid in self.workers()]

    def cache_stats(self) -> list[dict]:
        """What each worker logged on exit (call after `stop`)."""
        marker, stats = " cache stats ", []
        for line in self.log.read_text().splitlines():
            if marker in line:
                message = json.loads(line)["message"] if line.startswith("{") else line  # LOG_FORMAT json or text
                stats.append(json.loads(message.split(marker, 1)[1]))
        return stats


def serve(app_module: str, env: dict[str, str], probe: str, name: str, listeners: int,
          argv: list[str] | None = None) -> Server:
    """gunicorn serving `app_module` (or `argv`, any server taking PORT), once `probe` answers 200 and
    `listeners` workers have logged that they listen (each takes connections only once its app has loaded;
    0 with a shared socket)."""
    port = free_port()
    log = WORK / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(argv or gunicorn_argv(app_module),
                                   env={**env, "PORT": str(port), "HOST": "127.0.0.1"}, cwd=REPO, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{port}", log, name)

    def ready() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited; see {log}")
        try:
            answered = httpx.get(server.url + probe, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
        return answered and log.read_text().count("listening at") >= listeners

    try:
        wait_for(ready, f"{name} to start; see {log}")
    except SystemExit:
        server.stop()
        raise
    return server


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (Linux VmHWM); elsewhere its current RSS."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def start_redis() -> tuple[subprocess.Popen, str]:
    """A redis-server of the bench's own on a free port, without persistence (Debian's, installed if missing)."""
    port = free_port()
    binary = debian_tool("redis-server", "redis-server")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(WORK)], stdout=(WORK / "redis.log").open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    import redis

    client = redis.Redis(port=port)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_for(up, "redis-server")
    return process, f"redis://127.0.0.1:{port}/0"


def redis_round_trips(url: str) -> int:
    """Round trips clients have made to Redis so far: the API sends EVALSHA (SCRIPT LOAD, EVAL when Redis
    forgot the script) and PING (health), one command per round trip; the commands scripts run inside Redis
    are counted apart by INFO and left out here."""
    import redis

    stats = redis.Redis.from_url(url).info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
               for name in ("evalsha", "eval", "script|load", "script", "ping", "info"))


# ------------------------------------------------------------------------------------------------- report
def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), model)
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def paired_ratio(rounds: dict[str, list[Result]], label: str, versus: str) -> float:
    """The median over the rounds of `label`'s req/s divided by `versus`'s in the same round."""
    return statistics.median(a.rps / b.rps for a, b in zip(rounds[label], rounds[versus]))


def route_table(rounds: dict[str, list[Result]], trivial: str) -> list[str]:
    lines = ["| route | req/s | p50 ms | p99 ms | errors | × trivial |", "|---|---:|---:|---:|---:|---:|"]
    for by_round in rounds.values():
        r = Result.median(by_round)
        lines.append(f"| {r.label} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | "
                     f"{paired_ratio(rounds, r.label, trivial):.2f} |")
    return lines


def check(name: str, value: float, target: float, sense: str = "≥") -> str:
    met = value >= target if sense == "≥" else value <= target
    return f"  {'met ' if met else 'MISSED'} {name}: {value:.2f} (target {sense} {target:g})"
