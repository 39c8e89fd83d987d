"""Helpers shared by several test modules."""

from __future__ import annotations

import socket
import subprocess
import time


def wait_listening(port: int, proc: subprocess.Popen, timeout_s: float = 30, log=None) -> None:
    """Until proc accepts connections on port; log() gives its output for the failure message
    (default: its stderr pipe)."""
    log = log or proc.stderr.read
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited early: {log()}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port}: {log()}")
