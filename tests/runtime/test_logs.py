"""Logs: `collector-eval serve` writes one JSON object per line on stderr (or text when asked), and the
JSON formatter renders what the secrets filter left, never the original message."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from collector_eval.runtime import secrets
from collector_eval.runtime.logs import JsonFormatter
from tests.support.config import free_port
from tests.support.http_client import http_request
from tests.support.process import wait_listening

ROOT = Path(__file__).resolve().parents[2]


def run_serve(tmp_path: Path, redis_url: str, *args: str) -> str:
    """Start serve, wait until it listens and is ready, stop it with SIGTERM; returns its stderr."""
    grpc_port, telemetry_port = free_port(), free_port()
    config = tmp_path / "serve.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "receiver": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"}, "http": {"endpoint": "127.0.0.1:0"}},
                "telemetry": {"metrics_endpoint": f"127.0.0.1:{telemetry_port}"},
                "control": {"endpoint": "127.0.0.1:0"},
                "redis": {"url": redis_url, "key_prefix": f"logs{grpc_port}"},
                "judge": {"api_key_env": "COLLECTOR_EVAL_LOGS_TEST_NO_KEY"},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "COLLECTOR_EVAL_LOGS_TEST_NO_KEY"}
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector_eval.cli", "serve", "--config", str(config), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_listening(grpc_port, proc, log=stderr_path.read_text)
        wait_listening(telemetry_port, proc, log=stderr_path.read_text)
        assert http_request("GET", telemetry_port, "/readyz").status == 200, stderr_path.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, stderr_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return stderr_path.read_text()


def test_serve_writes_one_json_object_per_line(tmp_path, redis_url):
    stderr = run_serve(tmp_path, redis_url)
    lines = stderr.splitlines()
    assert len(lines) >= 4, stderr
    records = [json.loads(line) for line in lines]  # every line parses on its own
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert record["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        assert datetime.fromisoformat(record["time"]).tzinfo is not None
    messages = {r["message"]: r for r in records}
    warning = next(r for r in records if "judge evaluators are off" in r["message"])
    assert warning["level"] == "WARNING" and warning["logger"] == "collector_eval.runtime.service"
    assert "COLLECTOR_EVAL_LOGS_TEST_NO_KEY" in warning["message"]
    assert any(m.startswith("receiving OTLP/HTTP on 127.0.0.1:") for m in messages)
    assert any(m.startswith("metrics and health on 127.0.0.1:") for m in messages)
    assert messages["shutting down"]["level"] == "INFO"


def test_serve_log_format_text(tmp_path, redis_url):
    stderr = run_serve(tmp_path, redis_url, "--log-format", "text")
    lines = stderr.splitlines()
    assert any(" WARNING collector_eval.runtime.service: judge evaluators are off" in line for line in lines), stderr
    for line in lines:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)


def test_json_lines_carry_what_the_secrets_filter_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("collector_eval.test_logs")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        secrets.install(["sk-live-0123456789"], logger=logger)
        logger.warning("judge refused key %s", "sk-live-0123456789")
        try:
            raise RuntimeError("server echoed Authorization: Bearer tok-abcdef and sk-live-0123456789")
        except RuntimeError:
            logger.exception("export failed\nsecond line")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    output = stream.getvalue()
    assert "sk-live-0123456789" not in output and "tok-abcdef" not in output
    first, second = [json.loads(line) for line in output.splitlines()]
    assert first["message"] == "judge refused key ***"
    assert first["level"] == "WARNING" and first["logger"] == "collector_eval.test_logs"
    # A multi-line message and a traceback stay inside one JSON line.
    assert second["message"] == "export failed\nsecond line"
    assert "RuntimeError" in second["exception"] and "***" in second["exception"]
