"""The third way in: collector-eval chained between two real OpenTelemetry collectors. `rotel-agent`
(from the `rotel` wheel: OTLP/gRPC in, batching, OTLP/gRPC out, gzip) runs in front of and behind the
service: app (OpenTelemetry SDK) -> rotel #1 -> collector-eval -> rotel #2 -> sink."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rotel

from tests.e2e.test_three_signals import APP as THREE_SIGNALS_APP
from tests.support.app import (
    TURNS,
    goal_answer,
    make_provider,
    send_session,
    span_attrs,
)
from tests.support.config import free_port
from tests.support.otlp_sink import OtlpSink
from tests.support.spans import judge_prompt

ROTEL_AGENT = Path(rotel.__file__).resolve().parent / "rotel-agent"


class RotelAgent:
    """One rotel-agent process receiving OTLP/gRPC on a free port and exporting OTLP/gRPC to `to`."""

    def __init__(self, to: str, log: Path):
        self.port = free_port()
        self.command = [
            str(ROTEL_AGENT), "start",
            "--otlp-grpc-endpoint", f"127.0.0.1:{self.port}",
            "--otlp-http-endpoint", f"127.0.0.1:{free_port()}",  # its default, 4318, may be taken
            "--exporter", "otlp",
            "--otlp-exporter-endpoint", f"http://{to}",
            "--otlp-exporter-protocol", "grpc",
            "--otlp-exporter-compression", "gzip",
            "--batch-timeout", "100ms",
        ]  # fmt: skip
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(self.command, stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{' '.join(self.command)} exited with {self.proc.returncode}:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"rotel-agent never listened on {self.port}:\n{log.read_text()}")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


@pytest.fixture
def rotel_agent(tmp_path):
    agents: list[RotelAgent] = []

    def start(to: str) -> RotelAgent:
        agent = RotelAgent(to, tmp_path / f"rotel-{len(agents) + 1}.log")
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()


def test_rotel_agent_runs():
    """A clear failure, not a skip, when the wheel's binary cannot run here."""
    result = subprocess.run([str(ROTEL_AGENT), "version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{ROTEL_AGENT} version: {result.returncode} {result.stderr}"


def test_app_to_collector_to_collector_eval_to_collector_to_sink(service, sink, judge, rotel_agent):
    judge.default = goal_answer(["name the puppy", "list vaccines"], ["book a vet appointment"])
    reference = OtlpSink().start()  # what the app sent, straight from the SDK
    try:
        behind = rotel_agent(sink.endpoint)
        svc = service(exporters={"otlp": {"endpoint": behind.endpoint}})
        in_front = rotel_agent(svc.endpoint)
        provider = make_provider("pipeline-app", in_front.endpoint, reference.endpoint)
        end = send_session(provider, "sess-pipeline-1")
        provider.shutdown()

        # Every span the app sent, and one verdict, come out at the far end.
        sent = {span.span_id: span for _, _, span in reference.spans()}
        assert len(sent) == 2 * len(TURNS) + 1
        sink.wait_for(lambda s: len(s.carriers()) == 1 and sent.keys() <= {x.span_id for _, _, x in s.spans()}, 30)
        received = {span.span_id: span for _, _, span in sink.spans() if span.name != "evaluate_session"}
        assert received.keys() == sent.keys()
        for span_id, span in sent.items():
            assert received[span_id] == span  # unchanged through two collectors and collector-eval
        resources = {span.span_id: res for res, _, span in sink.spans()}
        assert all(span_attrs(resources[i])["service.name"] == "pipeline-app" for i in sent)

        resource, _, carrier = sink.carriers()[0]
        attrs = span_attrs(carrier)
        assert attrs["session.id"] == "sess-pipeline-1"
        assert attrs["collector_eval.tenant"] == "pipeline-app"
        assert attrs["session.evaluations.0.evaluation.label"] == "complete"
        assert attrs["session.evaluations.0.evaluation.score"] == pytest.approx(2 / 3)
        assert carrier.parent_span_id == end.get_span_context().span_id.to_bytes(8, "big")
        assert span_attrs(resource)["service.name"] == "pipeline-app"
        (event,) = carrier.events
        assert event.name == "gen_ai.evaluation.result"
        time.sleep(0.5)
        assert len(sink.carriers()) == 1
    finally:
        reference.stop()


def test_logs_and_metrics_pass_through_the_collector_chain_and_the_logged_session_is_judged(
    service, sink, judge, rotel_agent, tmp_path
):
    """The env-configured app of test_three_signals behind a real collector: its log records and
    metrics reach the far end through rotel, collector-eval and rotel again, and the session it logs
    is judged."""
    judge.default = goal_answer(["river"], [])
    behind = rotel_agent(sink.endpoint)
    svc = service(exporters={"otlp": {"endpoint": behind.endpoint}})
    in_front = rotel_agent(svc.endpoint)
    emitted_file = tmp_path / "emitted.json"
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{in_front.endpoint}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": "chained-app",
    }
    subprocess.run(
        [sys.executable, str(THREE_SIGNALS_APP), str(emitted_file), "sess-chain-logs"], env=env, check=True, timeout=60
    )
    emitted = json.loads(emitted_file.read_text())

    sink.wait_for(lambda s: len(s.carriers()) == 1 and len(s.log_records()) == len(emitted["logs"]), 30)
    sink.wait_for(lambda s: len({m.name for _, _, m in s.metrics()}) == 2, 30)
    assert sorted(r.event_name for _, _, r in sink.log_records()) == sorted(event for event, _, _ in emitted["logs"])
    assert {m.name for _, _, m in sink.metrics()} == {name for name, _, _ in emitted["points"]}
    assert "The Tagus runs through Lisbon." in judge_prompt(judge)
