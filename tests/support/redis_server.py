"""A private redis-server on a free port for the tests that need a real Redis (rate limits shared between
processes, Redis failing); `start_redis` skips, saying why, where redis-server is not installed."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .servers import free_port

REDIS_SERVER = shutil.which("redis-server")


@dataclass
class RedisServer:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            self.process.wait(10)


def start_redis(folder: Path) -> RedisServer:
    """redis-server on a free loopback port, without persistence, its log in `folder`."""
    if not REDIS_SERVER:
        pytest.skip("redis-server is not installed (apt-get install redis-server): the shared-limit and "
                    "Redis-failure tests cannot run")
    import redis

    port = free_port()
    process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(folder)],
                               stdout=open(folder / "redis.log", "ab"), stderr=subprocess.STDOUT)
    server = RedisServer(process, port)
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port, socket_timeout=0.5).ping()
            return server
        except redis.RedisError:
            if time.monotonic() > deadline or process.poll() is not None:
                server.stop()
                raise RuntimeError("redis-server did not start: " + (folder / "redis.log").read_text())
            time.sleep(0.05)
