"""A real Redis Cluster of private redis-server processes on loopback, for tests: each node owns one
contiguous, equal share of the 16384 slots (masters only, no replicas)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from collector_eval.store.server import RedisServerError, find_redis_server

SLOTS = 16384
# A cluster node also listens on port + 10000 for its cluster bus (Redis 6.2 cannot move it).
BUS_OFFSET = 10000


def free_cluster_port() -> int:
    """A free loopback port whose cluster-bus port is free as well."""
    for _ in range(100):
        with socket.socket() as s, socket.socket() as bus:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port + BUS_OFFSET > 65535:
                continue
            try:
                bus.bind(("127.0.0.1", port + BUS_OFFSET))
            except OSError:
                continue
            return port
    raise RedisServerError("no free port pair (port, port + 10000) for a cluster node")


class EmbeddedCluster:
    def __init__(self, nodes: int = 3, binary: str = ""):
        self._binary = find_redis_server(binary)
        self._nodes = nodes
        self._ports: list[int] = []
        self._procs: list[subprocess.Popen] = []
        self._dir: Path | None = None
        self.ranges = [(i * SLOTS // nodes, (i + 1) * SLOTS // nodes - 1) for i in range(nodes)]

    @property
    def ports(self) -> list[int]:
        return list(self._ports)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self._ports[0]}"

    def start(self, timeout_s: float = 20) -> str:
        self._dir = Path(tempfile.mkdtemp(prefix="collector-eval-cluster-"))
        deadline = time.monotonic() + timeout_s
        try:
            for i in range(self._nodes):
                self._spawn(i)
            clients = [self._wait_ping(i, deadline) for i in range(self._nodes)]
            for client, (first, last) in zip(clients, self.ranges):
                client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
            # Every pair meets directly: learning of a node second-hand, by gossip, can take seconds.
            for i, client in enumerate(clients):
                for port in self._ports[i + 1 :]:
                    client.execute_command("CLUSTER MEET", "127.0.0.1", port)
            self._wait_ok(clients, deadline)
            for client in clients:
                client.close()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _spawn(self, i: int) -> None:
        port = free_cluster_port()
        node_dir = self._dir / f"node-{i}"
        node_dir.mkdir()
        args = [
            self._binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(self._dir / f"nodes-{port}.conf"),
            "--cluster-node-timeout",
            "2000",
            "--dir",
            str(node_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        # A file, not a pipe: a node that logs while nobody reads must not block.
        with open(node_dir / "redis.log", "wb") as log:
            self._procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        self._ports.append(port)

    def _check_alive(self, i: int) -> None:
        proc = self._procs[i]
        if proc.poll() is not None:
            log = (self._dir / f"node-{i}" / "redis.log").read_text(errors="replace").strip()
            raise RedisServerError(
                f"cluster node {i} (port {self._ports[i]}) exited at start (code {proc.returncode})"
                + (f": {log}" if log else "")
            )

    def _wait_ping(self, i: int, deadline: float) -> redis.Redis:
        client = redis.Redis(host="127.0.0.1", port=self._ports[i], socket_timeout=1, decode_responses=True)
        while True:
            self._check_alive(i)
            try:
                client.ping()
                return client
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() > deadline:
                    raise RedisServerError(f"cluster node {i} (port {self._ports[i]}) did not answer") from None
                time.sleep(0.02)

    def _node_ready(self, client: redis.Redis) -> bool:
        if client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
            return False
        # Every range served by its own node, under an address a client can dial: until gossip has
        # told a node its own IP, it reports an empty host for itself.
        seen = {
            (int(first), int(last), int(master[1]))
            for first, last, master, *_ in client.execute_command("CLUSTER SLOTS")
            if master[0]
        }
        return seen == {(first, last, port) for (first, last), port in zip(self.ranges, self._ports)}

    def _wait_ok(self, clients: list[redis.Redis], deadline: float) -> None:
        pending = list(range(self._nodes))
        while pending:
            for i in pending:
                self._check_alive(i)
            pending = [i for i in pending if not self._node_ready(clients[i])]
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(f"node {i} (port {self._ports[i]})" for i in pending)
                raise RedisServerError(f"redis cluster not ok in time: {names} not ready")
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self._procs:
            proc.wait()
        self._procs = []
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
