"""The Langfuse backend against a local server implementing POST /api/public/scores as Langfuse
documents it: basic auth with the project's public and secret key, a ScoreBody (id, traceId,
observationId, sessionId, name, value, dataType NUMERIC|CATEGORICAL|BOOLEAN, comment, metadata),
and scores upserted by id."""

from __future__ import annotations

import asyncio
import base64
import math

import pytest
from aiohttp import web

from collector_eval.backoff import Backoff
from collector_eval.config.checks import ConfigError
from collector_eval.export import delivery
from collector_eval.export.backends.langfuse import LangfuseBackend, LangfuseConfig, build_langfuse, score_id
from collector_eval.model import ResultStatus
from tests.export.backends.fake_http import FakeHttp
from tests.support.records import END_TRACE, METADATA, ROOT_SPAN, SPAN, TRACE, record, verdict_records

PUBLIC, SECRET = "pk-lf-test-public", "sk-lf-test-secret-do-not-log"
SCORE_FIELDS = {"id", "traceId", "observationId", "sessionId", "name", "value", "dataType", "comment", "metadata"}


class FakeLangfuse(FakeHttp):
    def __init__(self):
        super().__init__("/api/public/scores", self._scores)
        self.scores: dict[str, dict] = {}  # by id, as Langfuse keeps them
        self.posts: list[dict] = []

    async def _scores(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{PUBLIC}:{SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"message": "Invalid credentials"}, status=401)
        body = await request.json()
        problem = self._invalid(body)
        if problem:
            return web.json_response({"message": problem}, status=400)
        self.posts.append(body)
        self.scores[body["id"]] = body
        return web.json_response({"id": body["id"]})

    @staticmethod
    def _invalid(body: dict) -> str:
        if set(body) - SCORE_FIELDS:
            return f"unknown fields {sorted(set(body) - SCORE_FIELDS)}"
        if not isinstance(body.get("name"), str) or not body["name"]:
            return "name is required"
        if not (body.get("traceId") or body.get("sessionId")):
            return "traceId or sessionId is required"
        if "observationId" in body and "traceId" not in body:
            return "observationId needs traceId"
        kind, value = body.get("dataType"), body.get("value")
        if kind == "CATEGORICAL" and not isinstance(value, str):
            return "categorical value must be a string"
        if kind in ("NUMERIC", "BOOLEAN") and (isinstance(value, bool) or not isinstance(value, int | float)):
            return "numeric value must be a number"
        if kind not in ("NUMERIC", "CATEGORICAL", "BOOLEAN"):
            return f"bad dataType {kind!r}"
        if not isinstance(body.get("metadata", {}), dict):
            return "metadata must be an object"
        return ""


def backend(server: FakeHttp, public: str = PUBLIC, secret: str = SECRET) -> LangfuseBackend:
    return LangfuseBackend(LangfuseConfig(endpoint=server.url + "/", timeout_s=5), public, secret)


async def attempt(server: FakeHttp, records, **keys):
    b = backend(server, **keys)
    try:
        return await b.attempt(records)
    finally:
        await b.close()


def test_every_result_is_scored_on_its_session_trace_or_observation_with_every_field():
    async def main():
        async with FakeLangfuse() as server:
            outcome = await attempt(server, verdict_records())
            assert outcome.delivered
            return server

    server = asyncio.run(main())
    by_key = {(s["name"], s["dataType"]): s for s in server.scores.values()}
    # session: score and label are two scores; trace: a score; span: a label; failed and skipped: none.
    assert sorted(by_key) == [
        ("goal_completeness", "CATEGORICAL"),
        ("goal_completeness", "NUMERIC"),
        ("toxicity", "CATEGORICAL"),
        ("trajectory", "NUMERIC"),
    ]
    session = record()
    numeric = by_key[("goal_completeness", "NUMERIC")]
    assert numeric == {
        "id": score_id(session, "numeric"),
        "sessionId": "sess-42",
        "name": "goal_completeness",
        "dataType": "NUMERIC",
        "value": 0.5,
        "comment": "One of two goals was left unresolved.",
        "metadata": session.metadata(),
    }
    categorical = by_key[("goal_completeness", "CATEGORICAL")]
    assert categorical["value"] == "incomplete" and categorical["id"] == score_id(session, "categorical")
    assert "traceId" not in categorical and categorical["sessionId"] == "sess-42"
    assert numeric["metadata"] == METADATA
    trace = by_key[("trajectory", "NUMERIC")]
    assert trace["traceId"] == TRACE and "observationId" not in trace and "sessionId" not in trace
    span = by_key[("toxicity", "CATEGORICAL")]
    assert (span["traceId"], span["observationId"], span["value"]) == (TRACE, SPAN, "non-toxic")
    assert span["metadata"]["passed"] is True and "judge_model" not in span["metadata"]
    assert END_TRACE not in str(server.scores) and ROOT_SPAN not in str(server.scores)


def test_a_resend_writes_the_same_ids_and_leaves_one_copy_a_new_revision_adds_its_own():
    async def main():
        async with FakeLangfuse() as server:
            records = verdict_records()
            assert (await attempt(server, records)).delivered
            first = dict(server.scores)
            assert (await attempt(server, records)).delivered  # a retry, or a restart mid-delivery
            assert server.scores == first and len(server.posts) == 2 * len(first)
            assert [p["id"] for p in server.posts[: len(first)]] == [p["id"] for p in server.posts[len(first) :]]
            assert (await attempt(server, [record(revision=2)])).delivered
            return first, server

    first, server = asyncio.run(main())
    assert len(server.scores) == len(first) + 2  # revision 2's score and label, beside revision 1's


def test_failed_and_skipped_results_send_nothing():
    async def main():
        async with FakeLangfuse() as server:
            records = [r for r in verdict_records() if r.status != ResultStatus.OK]
            assert (await attempt(server, records)).delivered
            return server

    assert asyncio.run(main()).requests == 0


def test_a_score_json_cannot_carry_is_left_out_and_the_label_still_sent():
    async def main():
        async with FakeLangfuse() as server:
            assert (
                await attempt(server, [record(score=math.nan), record(name="other", score=math.inf, label=None)])
            ).delivered
            return server

    server = asyncio.run(main())
    assert [(s["name"], s["dataType"]) for s in server.posts] == [("goal_completeness", "CATEGORICAL")]


def test_wrong_keys_are_refused_and_the_secret_is_in_no_reason():
    async def main():
        async with FakeLangfuse() as server:
            return await attempt(server, [record()], secret="sk-lf-wrong-secret")

    outcome = asyncio.run(main())
    assert not outcome.delivered and not outcome.retry and "401" in outcome.reason
    assert "sk-lf-wrong-secret" not in outcome.reason


def test_a_key_echoed_in_a_refusal_is_masked():
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {"message": f"bad request from {request.headers['Authorization']} {SECRET}"}, status=400
        )

    async def main():
        async with FakeHttp("/api/public/scores", echo) as server:
            return await attempt(server, [record()])

    outcome = asyncio.run(main())
    assert not outcome.retry and SECRET not in outcome.reason and "***" in outcome.reason


def test_429_with_retry_after_is_retried_after_that_delay():
    async def main():
        async with FakeLangfuse() as server:
            server.answer_first(429, headers={"Retry-After": "7"})
            return await attempt(server, [record()]), server

    outcome, server = asyncio.run(main())
    assert outcome.retry and outcome.delay_s == 7.0 and "429" in outcome.reason
    assert server.requests == 1 and not server.scores  # stopped at the first answer worth retrying


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_backoff(status):
    async def main():
        async with FakeLangfuse() as server:
            server.answer_first(status)
            return await attempt(server, [record()])

    outcome = asyncio.run(main())
    assert outcome.retry and outcome.delay_s is None and str(status) in outcome.reason


def test_no_connection_is_retried():
    async def main():
        server = FakeLangfuse()  # never started: nothing listens on its port
        return await attempt(server, [record()])

    outcome = asyncio.run(main())
    assert outcome.retry and not outcome.delivered


def test_a_400_is_refused_without_keeping_the_other_scores_from_being_written():
    async def main():
        async with FakeLangfuse() as server:
            server.answer_first(400)
            return await attempt(server, verdict_records()), server

    outcome, server = asyncio.run(main())
    assert not outcome.delivered and not outcome.retry
    assert "goal_completeness (NUMERIC): HTTP 400" in outcome.reason
    assert len(server.scores) == 3  # the three others


def test_an_outage_is_survived_through_deliver_with_one_copy_of_each_score(monkeypatch):
    # A 30 s outage as the client sees it: 503 after 503, then answers; backoff shortened so the test
    # does not wait it out.
    monkeypatch.setattr(delivery, "BACKOFF", Backoff(initial_s=0.001, max_s=0.005))

    async def main():
        async with FakeLangfuse() as server:
            server.answer_first(503, times=30)
            b = backend(server)
            try:
                ok = await delivery.deliver(lambda: b.attempt(verdict_records()), "langfuse", math.inf)
            finally:
                await b.close()
            return ok, server

    ok, server = asyncio.run(main())
    assert ok and server.requests == 30 + 4
    assert len(server.scores) == 4 and len(server.posts) == 4


def test_deliver_gives_up_on_a_refusal_at_once():
    async def main():
        async with FakeLangfuse() as server:
            b = backend(server, secret="wrong")
            try:
                return await delivery.deliver(lambda: b.attempt([record()]), "langfuse", math.inf), server
            finally:
                await b.close()

    ok, server = asyncio.run(main())
    assert not ok and server.requests == 1


# Configuration


def test_build_reads_both_keys_from_the_environment(monkeypatch):
    monkeypatch.setenv("LF_PK", PUBLIC)
    monkeypatch.setenv("LF_SK", SECRET)
    cfg = LangfuseConfig(endpoint="https://cloud.langfuse.com", public_key_env="LF_PK", secret_key_env="LF_SK")
    cfg.validate("exporters.langfuse")
    assert cfg.enabled and build_langfuse(cfg).name == "langfuse"
    assert not LangfuseConfig().enabled


def test_missing_public_key_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET)
    with pytest.raises(ConfigError, match=r"exporters\.langfuse\.public_key_env: .*LANGFUSE_PUBLIC_KEY"):
        build_langfuse(LangfuseConfig(endpoint="https://cloud.langfuse.com"))


def test_missing_secret_key_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PUBLIC)
    monkeypatch.delenv("LANGFUSE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"exporters\.langfuse\.secret_key_env: .*LANGFUSE_SECRET_KEY"):
        build_langfuse(LangfuseConfig(endpoint="https://cloud.langfuse.com"))


@pytest.mark.parametrize("endpoint", ["cloud.langfuse.com", "ftp://cloud.langfuse.com", "https://", "https://x?y=1"])
def test_bad_endpoint_is_a_config_error_naming_the_key(endpoint):
    with pytest.raises(ConfigError, match=r"exporters\.langfuse\.endpoint: "):
        LangfuseConfig(endpoint=endpoint).validate("exporters.langfuse")


def test_bad_timeout_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"exporters\.langfuse\.timeout_s: "):
        LangfuseConfig(endpoint="https://cloud.langfuse.com", timeout_s=0).validate("exporters.langfuse")


def test_empty_key_variable_name_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"exporters\.langfuse\.secret_key_env: "):
        LangfuseConfig(endpoint="https://cloud.langfuse.com", secret_key_env="").validate("exporters.langfuse")


def test_building_a_disabled_backend_is_refused():
    with pytest.raises(ConfigError, match=r"exporters\.langfuse\.endpoint: "):
        build_langfuse(LangfuseConfig())
