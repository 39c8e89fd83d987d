"""`collector-eval serve` as a user runs it: a real process, the embedded Redis, verdicts on stdout,
several processes sharing the port."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.app import goal_answer, make_provider, send_session
from tests.support.config import free_port
from tests.support.process import wait_listening


def read_lines(proc: subprocess.Popen, count: int, timeout_s: float = 30) -> list[str]:
    lines: list[str] = []
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while len(lines) < count and time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = proc.stdout.readline()
            if line:
                lines.append(line)
    return lines


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def test_two_processes_share_the_port_and_print_each_verdict_once(tmp_path, judge):
    judge.default = goal_answer(["a"], ["b"])
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"receiver: {{grpc: {{endpoint: '127.0.0.1:{port}'}}, http: {{endpoint: '127.0.0.1:0'}}}}\n"
        # Free ports: the defaults (4318, 8888, 4320) may be taken on a machine that runs tests.
        "telemetry: {metrics_endpoint: '127.0.0.1:0'}\n"
        "control: {endpoint: '127.0.0.1:0'}\n"
        "processes: 2\n"
        "session: {settle_delay_s: 0.2}\n"
        "jobs: {poll_interval_s: 0.05}\n"
        f"judge: {{base_url: '{judge.url}', api_key_env: SERVE_TEST_KEY}}\n"
    )
    env = {**os.environ, "SERVE_TEST_KEY": "sk-serve-test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector_eval.cli", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_listening(port, proc)
        time.sleep(1.0)  # the second process binds the same port a moment later
        programs = [Path(f"/proc/{c}/cmdline").read_text().split("\0")[0] for c in children_of(proc.pid)]
        processes = [p for p in programs if "redis-server" not in p]
        assert len(processes) == 1  # the second service process
        # One provider per session: separate connections, which SO_REUSEPORT spreads over both processes.
        sessions = [f"sess-serve-{i}" for i in range(6)]
        for sid in sessions:
            provider = make_provider("served-app", f"127.0.0.1:{port}")
            send_session(provider, sid)
            provider.shutdown()
        lines = read_lines(proc, len(sessions))
        verdicts = [json.loads(line) for line in lines]
        assert sorted(v["session_id"] for v in verdicts) == sessions
        for verdict in verdicts:
            (evaluation,) = verdict["evaluations"]
            assert evaluation["name"] == "goal_completeness"
            assert evaluation["status"] == "ok" and evaluation["label"] == "complete"
            assert evaluation["score"] == 0.5
        time.sleep(1.0)
        assert read_lines(proc, 1, timeout_s=0.5) == []  # nothing judged twice
        assert len(judge.requests) == len(sessions)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stderr.read()
    assert children_of(proc.pid) == []
