"""The Phoenix backend against a real Arize Phoenix (the arize-phoenix package, started here with
authentication on, on free ports, in a temporary working directory, telemetry off): spans go to it
over OTLP/HTTP, verdicts through its REST API, and what it shows is read back through its own API.
How the backend takes answers Phoenix gives rarely (429, 5xx, no connection, a time-out, a refusal)
is tested against a scripted local HTTP server.

The tests that start Phoenix are marked `peers`: `make test-peers` installs arize-phoenix and runs
them; `make test` runs the rest."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web

from collector_eval.config.checks import ConfigError
from collector_eval.export.backends.phoenix import PhoenixBackend, PhoenixConfig, annotation, build_phoenix
from collector_eval.export.delivery import Outcome, deliver
from collector_eval.export.results import ResultRecord
from collector_eval.model import Level, ResultStatus
from tests.export.backends.fake_http import FakeHttp
from tests.support.app import goal_answer, make_provider, send_session
from tests.support.config import free_port
from tests.support.records import METADATA
from tests.support.records import record as result_record
from tests.support.spans import attrs_of, end_span, llm_span, request, span, trace_id

# The tests that start Phoenix.
peers = pytest.mark.peers

# At least 32 characters with a digit and a lowercase letter, as Phoenix requires of both.
PHOENIX_SECRET = "collector-eval-test-jwt-secret-0123456789"
ADMIN_KEY = "collector-eval-test-admin-key-9876543210"


class Phoenix:
    """A Phoenix server started for this module; its admin secret is a valid bearer token."""

    def __init__(self, workdir: Path):
        self.port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "phoenix.log"
        env = {
            **os.environ,
            "PHOENIX_WORKING_DIR": str(workdir),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(self.grpc_port),
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ENABLE_AUTH": "true",
            "PHOENIX_SECRET": PHOENIX_SECRET,
            "PHOENIX_ADMIN_SECRET": ADMIN_KEY,
        }
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "phoenix.server.main", "serve"],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"Phoenix exited: {self.log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"Phoenix did not answer in {timeout_s}s: {self.log.read_text()[-3000:]}")

    def _call(self, url: str, data: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def send_spans(self, *spans) -> None:
        """Spans to Phoenix over OTLP/HTTP (protobuf), as an app's exporter or collector-eval sends them."""
        status, body = self._call(
            f"{self.url}/v1/traces", request(*spans).SerializeToString(), "application/x-protobuf"
        )
        assert status == 200, body

    def lookup(self, kind: str, ids_key: str, *ids: str) -> tuple[int, bytes]:
        query = "&".join(f"{ids_key}={i}" for i in ids)
        return self._call(f"{self.url}/v1/projects/default/{kind}_annotations?{query}")

    def annotations(self, kind: str, ids_key: str, *ids: str) -> list[dict]:
        """Annotations of the default project read through Phoenix's REST API, e.g.
        annotations("session", "session_ids", "s1")."""
        status, body = self.lookup(kind, ids_key, *ids)
        assert status == 200, body
        return json.loads(body)["data"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory):
    # A clear failure, not a skip: these tests run only under make test-peers, which installs it.
    assert importlib.util.find_spec("phoenix") is not None, "arize-phoenix is not installed: run make test-peers"
    server = Phoenix(tmp_path_factory.mktemp("phoenix"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


class Session:
    """One chat session as spans: a turn's trace (a root span and an LLM call) and the span that
    ended the session, each carrying session.id as OpenInference instrumentations set it."""

    def __init__(self, session_id: str):
        self.session_id = session_id
        self.trace = trace_id()
        self.root = span(self.trace, "chat_turn", **{"session.id": session_id})
        self.llm = llm_span(
            self.trace, "Book a flight", "Done.", parent=self.root.span_id, **{"session.id": session_id}
        )
        self.end = end_span(session_id)

    @property
    def spans(self):
        return [self.root, self.llm, self.end]

    def record(self, level: Level = Level.SESSION, **overrides) -> ResultRecord:
        """records.record() on this session's subject of that level: the span that ended it, the
        turn's trace (its root span) or the LLM call."""
        subject = {
            Level.SESSION: (self.end.trace_id, self.end.span_id),
            Level.TRACE: (self.trace, self.root.span_id),
            Level.SPAN: (self.trace, self.llm.span_id),
        }[level]
        return result_record(
            level=level, session_id=self.session_id, trace_id=subject[0].hex(), span_id=subject[1].hex(), **overrides
        )


def backend_for(phoenix: Phoenix, **cfg) -> PhoenixBackend:
    return build_phoenix(
        PhoenixConfig(endpoint=phoenix.url, api_key_env="TEST_PHOENIX_KEY", **cfg), {"TEST_PHOENIX_KEY": ADMIN_KEY}
    )


async def _deliver(backend: PhoenixBackend, records: list[ResultRecord]) -> bool:
    """Through the publisher's own retry loop: a 404 while Phoenix ingests the spans is retried."""
    return await deliver(lambda: backend.attempt(records), "phoenix", max_elapsed_s=60)


def write(phoenix: Phoenix, *verdicts: list[ResultRecord], **cfg) -> None:
    """Each verdict delivered in turn by one backend, closed afterwards."""

    async def run() -> None:
        backend = backend_for(phoenix, **cfg)
        try:
            for records in verdicts:
                assert await _deliver(backend, records)
        finally:
            await backend.close()

    asyncio.run(run())


def by_name(annotations: list[dict]) -> dict[str, dict]:
    names = [a["name"] for a in annotations]
    assert len(names) == len(set(names)), f"an annotation was written twice: {annotations}"
    return {a["name"]: a for a in annotations}


@peers
def test_a_session_result_is_a_session_annotation_with_label_score_and_explanation(phoenix):
    s = Session("phoenix-session-annotation")
    phoenix.send_spans(*s.spans)
    write(phoenix, [s.record()])

    (got,) = phoenix.annotations("session", "session_ids", s.session_id)
    assert got["session_id"] == s.session_id
    assert got["name"] == "goal_completeness"
    assert got["annotator_kind"] == "LLM"
    assert got["result"] == {
        "label": "incomplete",
        "score": 0.5,
        "explanation": "One of two goals was left unresolved.",
    }
    assert got["identifier"] == s.record().identifier
    assert got["metadata"] == METADATA


@peers
def test_trace_and_span_results_are_trace_and_span_annotations(phoenix):
    s = Session("phoenix-trace-and-span")
    phoenix.send_spans(*s.spans)
    trace_result = s.record(Level.TRACE, name="trajectory", score=1.0, label=None, passed=None)
    span_result = s.record(
        Level.SPAN, name="toxicity", score=None, label="non-toxic", passed=True, annotator_kind="CODE", judge_model=None
    )
    write(phoenix, [s.record(), trace_result, span_result])

    (trace_annotation,) = phoenix.annotations("trace", "trace_ids", s.trace.hex())
    assert trace_annotation["trace_id"] == s.trace.hex()
    assert trace_annotation["name"] == "trajectory"
    assert trace_annotation["result"]["score"] == 1.0 and trace_annotation["result"]["label"] is None
    (span_annotation,) = phoenix.annotations("span", "span_ids", s.llm.span_id.hex())
    assert span_annotation["span_id"] == s.llm.span_id.hex()
    assert span_annotation["annotator_kind"] == "CODE"
    assert span_annotation["result"]["label"] == "non-toxic" and span_annotation["result"]["score"] is None
    assert "judge_model" not in span_annotation["metadata"]
    # Nothing landed on the other subjects of the trace.
    assert phoenix.annotations("span", "span_ids", s.root.span_id.hex()) == []


@peers
def test_a_failed_or_skipped_result_is_an_annotation_without_a_score(phoenix):
    s = Session("phoenix-failed-and-skipped")
    phoenix.send_spans(*s.spans)
    failed = s.record(
        name="user_frustration",
        status=ResultStatus.ERROR,
        score=None,
        label=None,
        passed=None,
        error_type="judge_timeout",
        explanation="the judge did not answer in 30s",
    )
    skipped = s.record(
        name="coherence",
        status=ResultStatus.SKIPPED,
        score=None,
        label=None,
        passed=None,
        error_type="no_content",
        explanation="",
    )
    write(phoenix, [failed, skipped])

    got = by_name(phoenix.annotations("session", "session_ids", s.session_id))
    assert got["user_frustration"]["result"] == {
        "label": "error",
        "score": None,
        "explanation": "judge_timeout: the judge did not answer in 30s",
    }
    assert got["user_frustration"]["metadata"]["status"] == "error"
    assert got["user_frustration"]["metadata"]["error_type"] == "judge_timeout"
    assert "passed" not in got["user_frustration"]["metadata"]
    assert got["coherence"]["result"] == {"label": "skipped", "score": None, "explanation": "no_content"}
    assert got["coherence"]["metadata"]["error_type"] == "no_content"


@peers
def test_a_re_evaluation_updates_each_annotation_in_place(phoenix):
    s = Session("phoenix-re-evaluation")
    phoenix.send_spans(*s.spans)
    first = [s.record(), s.record(Level.SPAN, name="toxicity", score=None, label="toxic")]
    second = [
        s.record(revision=2, trigger="idle", score=1.0, label="complete", explanation="Both goals met."),
        s.record(Level.SPAN, name="toxicity", score=None, label="non-toxic", revision=2, trigger="idle"),
    ]
    write(phoenix, first)
    (before,) = phoenix.annotations("session", "session_ids", s.session_id)
    write(phoenix, second)

    (after,) = phoenix.annotations("session", "session_ids", s.session_id)
    assert after["id"] == before["id"]
    assert after["result"] == {"label": "complete", "score": 1.0, "explanation": "Both goals met."}
    assert after["metadata"]["revision"] == 2 and after["metadata"]["trigger"] == "idle"
    (span_after,) = phoenix.annotations("span", "span_ids", s.llm.span_id.hex())
    assert span_after["result"]["label"] == "non-toxic"


@peers
def test_an_older_revision_delivered_after_a_newer_one_does_not_overwrite_it(phoenix):
    s = Session("phoenix-late-old-revision")
    phoenix.send_spans(*s.spans)
    old = [s.record()]
    new = [s.record(revision=2, score=1.0, label="complete")]
    write(phoenix, new, old)  # one backend: the old revision was still retrying

    (got,) = phoenix.annotations("session", "session_ids", s.session_id)
    assert got["metadata"]["revision"] == 2 and got["result"]["label"] == "complete"


@peers
def test_a_failure_after_a_score_replaces_it_rather_than_sitting_beside_it(phoenix):
    s = Session("phoenix-score-then-error")
    phoenix.send_spans(*s.spans)
    write(
        phoenix,
        [s.record()],
        [
            s.record(
                revision=2, status=ResultStatus.ERROR, score=None, label=None, passed=None, error_type="judge_refused"
            )
        ],
    )

    (got,) = phoenix.annotations("session", "session_ids", s.session_id)
    assert got["result"]["score"] is None and got["result"]["label"] == "error"
    assert got["metadata"]["revision"] == 2


@peers
def test_the_same_records_written_twice_leave_one_annotation_each(phoenix):
    s = Session("phoenix-written-twice")
    phoenix.send_spans(*s.spans)
    verdict = [s.record(), s.record(Level.TRACE, name="trajectory"), s.record(Level.SPAN, name="toxicity")]
    write(phoenix, verdict, verdict)
    # A restart mid-delivery: a new backend (no memory of the first) delivers the verdict again.
    write(phoenix, verdict)

    assert len(phoenix.annotations("session", "session_ids", s.session_id)) == 1
    assert len(phoenix.annotations("trace", "trace_ids", s.trace.hex())) == 1
    assert len(phoenix.annotations("span", "span_ids", s.llm.span_id.hex())) == 1


@peers
def test_two_evaluators_on_one_subject_are_two_annotations(phoenix):
    s = Session("phoenix-two-evaluators")
    phoenix.send_spans(*s.spans)
    write(phoenix, [s.record(), s.record(name="user_frustration", score=0.0, label="calm")])

    assert set(by_name(phoenix.annotations("session", "session_ids", s.session_id))) == {
        "goal_completeness",
        "user_frustration",
    }


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@peers
def test_a_session_phoenix_has_not_ingested_is_retried_then_given_up_after_not_found_retry_s(phoenix):
    s = Session("phoenix-never-ingested")  # its spans are never sent
    clock = Clock()
    backend = PhoenixBackend(
        PhoenixConfig(endpoint=phoenix.url, not_found_retry_s=30), api_key=ADMIN_KEY, clock=clock.__call__
    )
    records = [s.record(), s.record(Level.SPAN, name="toxicity")]

    async def run() -> list[Outcome]:
        outcomes = [await backend.attempt(records)]
        clock.now += 29
        outcomes.append(await backend.attempt(records))
        clock.now += 1
        outcomes.append(await backend.attempt(records))
        # Given up: the verdict's next 404 (say it came back from the outbox) starts a new window.
        outcomes.append(await backend.attempt(records))
        await backend.close()
        return outcomes

    first, still, given_up, again = asyncio.run(run())
    assert first.retry and not first.delivered and "404" in first.reason
    assert s.session_id in first.reason
    assert still.retry
    assert not given_up.retry and not given_up.delivered
    assert "not ingested" in given_up.reason and "30s" in given_up.reason
    assert again.retry
    status, body = phoenix.lookup("session", "session_ids", s.session_id)
    assert status == 404, body  # Phoenix knows no such session, and so holds no annotation of it


@peers
def test_a_small_not_found_retry_s_through_the_publishers_loop_drops_the_verdict(phoenix):
    s = Session("phoenix-never-ingested-loop")

    async def run() -> bool:
        backend = backend_for(phoenix, not_found_retry_s=0.3)
        try:
            return await deliver(lambda: backend.attempt([s.record()]), "phoenix", max_elapsed_s=60)
        finally:
            await backend.close()

    assert asyncio.run(run()) is False


@peers
def test_spans_ingested_after_a_404_are_annotated_and_the_404_is_forgotten(phoenix):
    s = Session("phoenix-late-spans")
    clock = Clock()
    backend = PhoenixBackend(PhoenixConfig(endpoint=phoenix.url, not_found_retry_s=30), api_key=ADMIN_KEY, clock=clock)
    records = [s.record()]

    async def run() -> tuple[Outcome, bool]:
        early = await backend.attempt(records)
        phoenix.send_spans(*s.spans)
        clock.now += 25
        delivered = await _deliver(backend, records)
        await backend.close()
        return early, delivered

    early, delivered = asyncio.run(run())
    assert early.retry and delivered
    assert backend._first_404 == {}  # noqa: SLF001
    (got,) = phoenix.annotations("session", "session_ids", s.session_id)
    assert got["result"]["score"] == 0.5


@peers
def test_a_wrong_api_key_is_refused(phoenix):
    s = Session("phoenix-wrong-key")
    phoenix.send_spans(*s.spans)
    backend = PhoenixBackend(PhoenixConfig(endpoint=phoenix.url), api_key="not-the-key-0123456789")

    async def run() -> Outcome:
        try:
            return await backend.attempt([s.record()])
        finally:
            await backend.close()

    outcome = asyncio.run(run())
    assert not outcome.retry and not outcome.delivered
    assert "401" in outcome.reason
    assert "not-the-key" not in outcome.reason


@peers
def test_no_key_where_phoenix_has_auth_on_is_refused(phoenix):
    backend = PhoenixBackend(PhoenixConfig(endpoint=phoenix.url))

    async def run() -> Outcome:
        try:
            return await backend.attempt([Session("phoenix-no-key").record()])
        finally:
            await backend.close()

    outcome = asyncio.run(run())
    assert not outcome.retry and "401" in outcome.reason


@peers
def test_through_the_service_a_judged_session_is_annotated_in_phoenix(phoenix, service, judge, sink, monkeypatch):
    """The whole way: the app's spans reach Phoenix through collector-eval's OTLP/HTTP exporter, and
    the verdict lands as a session annotation once Phoenix holds the session."""
    judge.default = goal_answer(["name the puppy"], ["book a vet"])
    monkeypatch.setenv("TEST_PHOENIX_KEY", ADMIN_KEY)
    svc = service(
        exporters={
            "otlp_http": {"endpoint": f"{phoenix.url}/v1/traces", "headers": {"authorization": f"Bearer {ADMIN_KEY}"}},
            "phoenix": {"endpoint": phoenix.url, "api_key_env": "TEST_PHOENIX_KEY"},
        }
    )
    send_session(make_provider("chat-app", svc.endpoint), "phoenix-through-service")
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    ((_, _, carrier),) = sink.carriers()
    (event,) = [attrs_of(e) for e in carrier.events if e.name == "gen_ai.evaluation.result"]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = phoenix.lookup("session", "session_ids", "phoenix-through-service")
        if status == 200 and json.loads(body)["data"]:
            break
        time.sleep(0.2)
    (got,) = phoenix.annotations("session", "session_ids", "phoenix-through-service")
    assert got["name"] == event["gen_ai.evaluation.name"] == "goal_completeness"
    assert got["annotator_kind"] == "LLM"
    assert got["result"] == {
        "label": event["gen_ai.evaluation.score.label"],
        "score": event["gen_ai.evaluation.score.value"],
        "explanation": event["gen_ai.evaluation.explanation"],
    }
    assert got["metadata"]["revision"] == 1 and got["metadata"]["tenant"] == "chat-app"


# --- answers a real Phoenix rarely gives, from a scripted server ---------------------------------


class ScriptedPhoenix(FakeHttp):
    """POST /v1/{session,trace,span}_annotations: the scripted answers first (answer_first(...,
    path=...)), then 200 with the ids Phoenix gives."""

    def __init__(self):
        super().__init__([f"/v1/{kind}_annotations" for kind in ("session", "trace", "span")], self._annotations)

    async def _annotations(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "QW5ub3RhdGlvbjox"}]})


def scripted(test, **cfg):
    """Runs test(server, backend) against a ScriptedPhoenix."""

    async def run():
        async with ScriptedPhoenix() as server:
            backend = PhoenixBackend(PhoenixConfig(endpoint=server.url + "/", **cfg), api_key="s3cret-key")
            try:
                return await test(server, backend)
            finally:
                await backend.close()

    return asyncio.run(run())


def test_requests_carry_the_bearer_key_sync_true_and_one_request_per_level():
    s = Session("scripted-shape")
    records = [s.record(), s.record(name="other"), s.record(Level.TRACE), s.record(Level.SPAN)]

    async def test(server, backend):
        assert (await backend.attempt(records)).delivered
        return server.received

    requests = scripted(test)
    assert [r.path for r in requests] == [
        "/v1/session_annotations",
        "/v1/trace_annotations",
        "/v1/span_annotations",
    ]
    for r in requests:
        assert r.query == {"sync": "true"}
        assert r.headers["Authorization"] == "Bearer s3cret-key"
        assert r.headers["Content-Type"] == "application/json"
    assert [a["name"] for a in requests[0].json()["data"]] == ["goal_completeness", "other"]
    assert requests[1].json()["data"] == [annotation(records[2])]
    assert requests[1].json()["data"][0]["trace_id"] == s.trace.hex()
    assert requests[2].json()["data"][0]["span_id"] == s.llm.span_id.hex()


def test_an_older_revision_than_one_written_is_taken_without_a_request():
    s = Session("scripted-revisions")

    async def test(server, backend):
        assert (await backend.attempt([s.record(revision=3), s.record(Level.SPAN, revision=3)])).delivered
        stale = await backend.attempt([s.record(revision=2), s.record(Level.SPAN, revision=2)])
        mixed = await backend.attempt([s.record(revision=2), s.record(Level.TRACE, revision=2)])
        again = await backend.attempt([s.record(revision=3)])
        return stale, mixed, again, server.received

    stale, mixed, again, requests = scripted(test)
    assert stale.delivered and mixed.delivered and again.delivered
    # rev 3 (two levels), then only the trace result of the mixed verdict, then rev 3 again
    assert [r.path for r in requests] == [
        "/v1/session_annotations",
        "/v1/span_annotations",
        "/v1/trace_annotations",
        "/v1/session_annotations",
    ]


def test_429_is_retried_after_the_servers_retry_after():
    async def test(server, backend):
        server.answer_first(429, headers={"Retry-After": "7"}, path="/v1/session_annotations")
        first = await backend.attempt([Session("scripted-429").record()])
        return first, await backend.attempt([Session("scripted-429").record()])

    first, second = scripted(test)
    assert first.retry and first.delay_s == 7 and "429" in first.reason
    assert second.delivered


@pytest.mark.parametrize("status", [500, 502, 503, 504, 507])
def test_a_server_error_is_retried_with_backoff(status):
    async def test(server, backend):
        server.answer_first(status, path="/v1/span_annotations")
        s = Session("scripted-5xx")
        return await backend.attempt([s.record(), s.record(Level.SPAN)])

    outcome = scripted(test)
    assert outcome.retry and outcome.delay_s is None and str(status) in outcome.reason


def test_the_longest_retry_after_of_the_levels_is_honoured():
    async def test(server, backend):
        server.answer_first(503, headers={"Retry-After": "2"}, path="/v1/session_annotations")
        server.answer_first(429, headers={"Retry-After": "5"}, path="/v1/trace_annotations")
        s = Session("scripted-two-delays")
        return await backend.attempt([s.record(), s.record(Level.TRACE)])

    outcome = scripted(test)
    assert outcome.retry and outcome.delay_s == 5


@pytest.mark.parametrize("status", [400, 401, 403, 413, 422])
def test_any_other_4xx_is_refused_naming_the_answer_without_the_key(status):
    async def test(server, backend):
        server.answer_first(
            status, body=f"bad request, Authorization: Bearer s3cret-key ({status})", path="/v1/session_annotations"
        )
        return await backend.attempt([Session("scripted-4xx").record()])

    outcome = scripted(test)
    assert not outcome.retry and not outcome.delivered
    assert f"/v1/session_annotations HTTP {status}" in outcome.reason
    assert "s3cret-key" not in outcome.reason


def test_a_refusal_wins_over_a_404_and_a_retry():
    async def test(server, backend):
        server.answer_first(404, body="Sessions with IDs x do not exist.", path="/v1/session_annotations")
        server.answer_first(503, path="/v1/trace_annotations")
        server.answer_first(422, body='{"detail": "bad annotator_kind"}', path="/v1/span_annotations")
        s = Session("scripted-mixed")
        return await backend.attempt([s.record(), s.record(Level.TRACE), s.record(Level.SPAN)]), backend

    outcome, backend = scripted(test)
    assert not outcome.retry and "422" in outcome.reason
    assert backend._first_404 == {}  # noqa: SLF001


def test_a_404_beside_a_server_error_is_retried_and_its_window_starts():
    clock = Clock()

    async def test(server, backend):
        backend._clock = clock  # noqa: SLF001
        server.answer_first(404, path="/v1/session_annotations")
        server.answer_first(503, headers={"Retry-After": "1"}, path="/v1/trace_annotations")
        s = Session("scripted-404-and-503")
        return await backend.attempt([s.record(), s.record(Level.TRACE)]), backend

    outcome, backend = scripted(test, not_found_retry_s=10)
    assert outcome.retry and outcome.delay_s == 1
    assert list(backend._first_404.values()) == [clock.now]  # noqa: SLF001


def test_no_connection_is_retried():
    backend = PhoenixBackend(PhoenixConfig(endpoint=f"http://127.0.0.1:{free_port()}"))

    async def run() -> Outcome:
        try:
            return await backend.attempt([Session("nobody-there").record()])
        finally:
            await backend.close()

    outcome = asyncio.run(run())
    assert outcome.retry and "ClientConnectorError" in outcome.reason


def test_an_answer_slower_than_timeout_s_is_retried():
    async def test(server, backend):
        server.delay_s = 2
        return await backend.attempt([Session("scripted-slow").record()])

    outcome = scripted(test, timeout_s=0.2)
    assert outcome.retry and "Timeout" in outcome.reason


def test_a_non_finite_score_is_never_sent():
    s = Session("nan")
    assert annotation(s.record(score=float("nan")))["result"]["score"] is None
    assert annotation(s.record(score=float("inf")))["result"]["score"] is None


# --- configuration ----------------------------------------------------------------------------------


def test_defaults_are_off():
    cfg = PhoenixConfig()
    assert not cfg.enabled
    cfg.validate("exporters.phoenix")
    assert (cfg.api_key_env, cfg.not_found_retry_s, cfg.timeout_s) == ("", 300, 10)
    assert PhoenixConfig(endpoint="http://127.0.0.1:6006").enabled


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        (PhoenixConfig(endpoint="127.0.0.1:6006"), "exporters.phoenix.endpoint"),
        (PhoenixConfig(endpoint="http://"), "exporters.phoenix.endpoint"),
        (PhoenixConfig(endpoint="http://127.0.0.1:6006?x=1"), "exporters.phoenix.endpoint"),
        (PhoenixConfig(endpoint="http://127.0.0.1:6006/v1"), "exporters.phoenix.endpoint"),
        (PhoenixConfig(endpoint="http://127.0.0.1:6006/v1/"), "exporters.phoenix.endpoint"),
        (PhoenixConfig(not_found_retry_s=-1), "exporters.phoenix.not_found_retry_s"),
        (PhoenixConfig(timeout_s=0), "exporters.phoenix.timeout_s"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(cfg, key):
    with pytest.raises(ConfigError, match=key):
        cfg.validate("exporters.phoenix")


def test_an_unset_key_variable_is_refused_naming_it():
    cfg = PhoenixConfig(endpoint="http://127.0.0.1:6006", api_key_env="MY_PHOENIX_KEY")
    with pytest.raises(ConfigError, match="MY_PHOENIX_KEY") as refused:
        build_phoenix(cfg, {})
    assert "exporters.phoenix.api_key_env" in str(refused.value)
    with pytest.raises(ConfigError, match="MY_PHOENIX_KEY"):
        build_phoenix(cfg, {"MY_PHOENIX_KEY": ""})
    assert build_phoenix(cfg, {"MY_PHOENIX_KEY": "k"}).name == "phoenix"
    assert build_phoenix(PhoenixConfig(endpoint="http://127.0.0.1:6006"), {}).name == "phoenix"
