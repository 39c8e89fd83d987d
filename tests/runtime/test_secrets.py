"""Secrets never reach the logs: the SecretsFilter on real loggers and handlers, and `collector-eval
serve` logging a downstream's error that echoes the exporter's credentials."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from collector_eval.runtime import secrets
from collector_eval.runtime.config import config_from_dict
from collector_eval.runtime.secrets import MASK, SecretsFilter, collect_secrets
from tests.support.config import free_port
from tests.support.process import wait_listening
from tests.support.spans import Client, request, span, trace_id

ROOT = Path(__file__).resolve().parents[2]
RECEIVER_TOKEN = "rcv-7c1e9b2a44f0d3"
FILE_TOKEN = "rcv-file-5d8e21c0aa"
HEADER_TOKEN = "hdr-91ab77c3e2f4d5"
JUDGE_KEY = "sk-judge-4b2d9e7f1a3c5e8d"


@pytest.fixture
def logger():
    """A real logger with a real handler writing to a buffer, like the root's under `serve`."""
    log = logging.getLogger(f"test_secrets.{os.urandom(4).hex()}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.buffer = buffer
    yield log
    log.removeHandler(handler)


def config_with_secrets(tmp_path):
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(f"# receivers\n{FILE_TOKEN}\n")
    return config_from_dict(
        {
            "receiver": {"grpc": {"auth": {"tokens": [RECEIVER_TOKEN], "tokens_file": str(tokens_file)}}},
            "judge": {"api_key_env": "SECRETS_TEST_JUDGE_KEY"},
            "exporters": {
                "otlp": {
                    "endpoint": "127.0.0.1:4319",
                    "headers": {"authorization": f"Bearer {HEADER_TOKEN}", "x-tenant": "acme-hdr-value"},
                }
            },
        }
    )


def test_collect_secrets_gathers_every_configured_secret(tmp_path):
    found = collect_secrets(config_with_secrets(tmp_path), environ={"SECRETS_TEST_JUDGE_KEY": JUDGE_KEY})
    assert {RECEIVER_TOKEN, FILE_TOKEN, f"Bearer {HEADER_TOKEN}", HEADER_TOKEN, "acme-hdr-value", JUDGE_KEY} <= set(
        found
    )
    assert "" not in found


def test_the_evaluation_backends_keys_are_secrets():
    cfg = config_from_dict({"exporters": {"phoenix": {"api_key_env": "SECRETS_TEST_PHOENIX"}}})
    environ = {
        "SECRETS_TEST_PHOENIX": "px-key-31f0a",
        "LANGFUSE_PUBLIC_KEY": "pk-lf-77aa",
        "LANGFUSE_SECRET_KEY": "sk-lf-88bb",
        "DD_API_KEY": "dd-key-99cc",
    }
    assert set(collect_secrets(cfg, environ)) == set(environ.values())


def test_no_key_in_the_environment_adds_nothing(tmp_path):
    found = collect_secrets(config_from_dict({"judge": {"api_key_env": "SECRETS_TEST_UNSET"}}), environ={})
    assert found == []


def test_configured_secrets_are_masked_in_messages_and_args(logger, tmp_path):
    secrets.install(
        collect_secrets(config_with_secrets(tmp_path), environ={"SECRETS_TEST_JUDGE_KEY": JUDGE_KEY}), logger
    )
    logger.info("token %s accepted", RECEIVER_TOKEN)
    logger.warning(f"file token {FILE_TOKEN} in an f-string")
    logger.error("judge said: invalid key %r (status %d)", JUDGE_KEY, 401)
    logger.info("header alone %s, tenant %s", HEADER_TOKEN, "acme-hdr-value")
    logger.info("args as a mapping: %(key)s", {"key": JUDGE_KEY})
    out = logger.buffer.getvalue()
    for secret in (RECEIVER_TOKEN, FILE_TOKEN, JUDGE_KEY, HEADER_TOKEN, "acme-hdr-value"):
        assert secret not in out
    lines = out.splitlines()
    assert lines == [
        f"INFO {logger.name}: token {MASK} accepted",
        f"WARNING {logger.name}: file token {MASK} in an f-string",
        f"ERROR {logger.name}: judge said: invalid key '{MASK}' (status 401)",
        f"INFO {logger.name}: header alone {MASK}, tenant {MASK}",
        f"INFO {logger.name}: args as a mapping: {MASK}",
    ]


@pytest.mark.parametrize(
    "message, expected",
    [
        ("sending Authorization: Bearer abc.def-ghi to x", f"sending Authorization: Bearer {MASK} to x"),
        ("metadata (('authorization', 'Bearer zzz123'),)", f"metadata (('authorization', 'Bearer {MASK}'),)"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', f'{{"authorization": "Basic {MASK}"}}'),
        ("authorization=raw-value-1 next", f"authorization={MASK} next"),
        ("proxy-authorization: secretvalue", f"proxy-authorization: {MASK}"),
        ("bearer lowercase-token.", f"bearer {MASK}."),
        # Nothing shaped like a credential: left alone.
        ("no credential follows the word bearer", "no credential follows the word bearer"),
        ("authorization failed for tenant acme", "authorization failed for tenant acme"),
    ],
)
def test_credential_shapes_are_masked_without_knowing_them(logger, message, expected):
    secrets.install([], logger)
    logger.info(message)
    assert logger.buffer.getvalue() == f"INFO {logger.name}: {expected}\n"


def test_secrets_in_tracebacks_are_masked(logger):
    secrets.install([JUDGE_KEY], logger)
    try:
        raise RuntimeError(f"server echoed api key {JUDGE_KEY}")
    except RuntimeError:
        logger.exception("judge call failed")
    out = logger.buffer.getvalue()
    assert JUDGE_KEY not in out
    assert "Traceback" in out and f"RuntimeError: server echoed api key {MASK}" in out


def test_records_from_child_loggers_are_masked_at_the_handler():
    """install() filters the handlers: records propagating from other loggers (grpc, openai) pass there."""
    parent = logging.getLogger(f"test_secrets_parent_{os.urandom(4).hex()}")
    parent.propagate = False
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    parent.addHandler(handler)
    try:
        secrets.install([RECEIVER_TOKEN], parent)
        child = logging.getLogger(f"{parent.name}.library")
        child.setLevel(logging.INFO)
        child.info("library logged %s", RECEIVER_TOKEN)
        assert buffer.getvalue() == f"library logged {MASK}\n"
    finally:
        parent.removeHandler(handler)


def test_the_longest_secret_is_masked_whole():
    f = SecretsFilter(["abc", "abc-longer-secret"])
    assert f.mask("x abc-longer-secret y abc") == f"x {MASK} y {MASK}"


def test_empty_secrets_are_ignored():
    assert SecretsFilter(["", ""]).mask("nothing to hide") == "nothing to hide"


# ------------------------------------------------------------------------------------------ serve


class EchoingDownstream(trace_service_pb2_grpc.TraceServiceServicer):
    """A downstream that refuses every export and, carelessly, echoes the credentials it got."""

    def __init__(self):
        self.refused = 0
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def Export(self, request, context):
        self.refused += 1
        metadata = dict(context.invocation_metadata())
        context.abort(
            grpc.StatusCode.PERMISSION_DENIED,
            f"credentials {metadata.get('authorization')!r} and tenant {metadata.get('x-tenant')!r} not allowed",
        )


def test_serve_masks_secrets_echoed_into_its_logs(tmp_path):
    downstream = EchoingDownstream()
    downstream._server.start()
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"receiver: {{grpc: {{endpoint: '127.0.0.1:{port}', auth: {{tokens: ['{RECEIVER_TOKEN}']}}}}, http: {{endpoint: ''}}}}\n"
        "judge: {api_key_env: SECRETS_SERVE_KEY}\n"
        "telemetry: {metrics_endpoint: ''}\ncontrol: {endpoint: ''}\n"
        f"exporters: {{otlp: {{endpoint: '127.0.0.1:{downstream.port}', "
        f"headers: {{authorization: 'Bearer {HEADER_TOKEN}', x-tenant: acme-hdr-value}}}}}}\n"
    )
    env = {**os.environ, "SECRETS_SERVE_KEY": JUDGE_KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector_eval.cli", "serve", "--config", str(config), "--log-level", "DEBUG"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_listening(port, proc)
        client = Client(f"127.0.0.1:{port}")
        try:
            client.export(
                request(span(trace_id(), "echoed")), metadata=(("authorization", f"Bearer {RECEIVER_TOKEN}"),)
            )
        finally:
            client.close()
        deadline = time.monotonic() + 10
        while downstream.refused == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert downstream.refused >= 1
        time.sleep(0.5)  # the refusal is logged right after it is received
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
        downstream._server.stop(None)
    (line,) = [l for l in stderr.splitlines() if "refused an export" in l]
    # The whole configured header value is a known secret, scheme and all.
    assert f"credentials '{MASK}' and tenant '{MASK}' not allowed" in line
    for secret in (RECEIVER_TOKEN, HEADER_TOKEN, "acme-hdr-value", JUDGE_KEY):
        assert secret not in stderr
