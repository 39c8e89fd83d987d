"""The Datadog backend against a local server implementing the LLM Observability evaluations API as
Datadog documents it: POST /api/intake/llm-obs/v2/eval-metric, header DD-API-KEY, a body
{"data": {"type": "evaluation_metric", "attributes": {"metrics": [...]}}} of metrics joined on a
span (trace and span id in decimal), answered 202."""

from __future__ import annotations

import asyncio
import math
import re
import uuid

import pytest
from aiohttp import web

from collector_eval.backoff import Backoff
from collector_eval.config.checks import ConfigError
from collector_eval.export import delivery
from collector_eval.export.backends.datadog import (
    DatadogBackend,
    DatadogConfig,
    build_datadog,
    metric_label,
    ml_app_of,
)
from collector_eval.model import ResultStatus
from tests.export.backends.fake_http import FakeHttp
from tests.support.records import END_SPAN, END_TRACE, ROOT_SPAN, SPAN, TRACE, record, verdict_records

API_KEY = "dd-test-api-key-do-not-log"
PATH = "/api/intake/llm-obs/v2/eval-metric"
METRIC_FIELDS = {
    "join_on",
    "ml_app",
    "timestamp_ms",
    "metric_type",
    "label",
    "categorical_value",
    "score_value",
    "assessment",
    "reasoning",
    "tags",
}


class FakeDatadog(FakeHttp):
    def __init__(self):
        super().__init__(PATH, self._intake)
        self.metrics: list[dict] = []  # every metric accepted, in order

    async def _intake(self, request: web.Request) -> web.Response:
        if request.headers.get("DD-API-KEY") != API_KEY:
            return web.json_response({"errors": ["Forbidden"]}, status=403)
        if request.content_type != "application/json":
            return web.json_response({"errors": ["Unsupported Media Type"]}, status=415)
        body = await request.json()
        data = body.get("data", {})
        if set(body) != {"data"} or data.get("type") != "evaluation_metric":
            return web.json_response({"errors": ["data.type must be evaluation_metric"]}, status=400)
        metrics = data.get("attributes", {}).get("metrics")
        if not isinstance(metrics, list) or not metrics:
            return web.json_response({"errors": ["data.attributes.metrics is required"]}, status=400)
        for metric in metrics:
            problem = self._invalid(metric)
            if problem:
                return web.json_response({"errors": [problem]}, status=400)
        self.metrics += metrics
        accepted = [{"id": str(uuid.uuid4()), **m} for m in metrics]
        answer = {"data": {"type": "evaluation_metric", "id": str(uuid.uuid4()), "attributes": {"metrics": accepted}}}
        return web.json_response(answer, status=202)

    @staticmethod
    def _invalid(m: dict) -> str:
        if set(m) - METRIC_FIELDS:
            return f"unknown fields {sorted(set(m) - METRIC_FIELDS)}"
        span = m.get("join_on", {}).get("span", {})
        if not all(isinstance(span.get(k), str) and span[k].isdigit() for k in ("trace_id", "span_id")):
            return "join_on.span needs decimal trace_id and span_id"
        if not isinstance(m.get("timestamp_ms"), int) or not isinstance(m.get("ml_app"), str) or not m["ml_app"]:
            return "timestamp_ms and ml_app are required"
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,199}", m.get("label", "")):
            return "label must be ASCII alphanumerics or underscores, starting with a letter"
        kind = m.get("metric_type")
        if kind == "score" and not isinstance(m.get("score_value"), int | float):
            return "score_value is required for a score"
        if kind == "categorical" and not isinstance(m.get("categorical_value"), str):
            return "categorical_value is required for a categorical metric"
        if kind not in ("score", "categorical"):
            return f"bad metric_type {kind!r}"
        if m.get("assessment", "pass") not in ("pass", "fail"):
            return "assessment is pass or fail"
        if not all(isinstance(t, str) and ":" in t for t in m.get("tags", [])):
            return "tags are key:value strings"
        return ""


def backend(server: FakeHttp, api_key: str = API_KEY, **cfg) -> DatadogBackend:
    return DatadogBackend(DatadogConfig(endpoint=server.url, timeout_s=5, **cfg), api_key)


async def attempt(server: FakeHttp, records, **kwargs):
    b = backend(server, **kwargs)
    try:
        return await b.attempt(records)
    finally:
        await b.close()


def test_one_metric_per_result_joined_on_its_span_with_every_field():
    async def main():
        async with FakeDatadog() as server:
            assert (await attempt(server, verdict_records())).delivered
            return server

    server = asyncio.run(main())
    by_label = {m["label"]: m for m in server.metrics}
    assert sorted(by_label) == ["goal_completeness", "toxicity", "trajectory"]  # failed and skipped: nothing
    session = by_label["goal_completeness"]
    timestamp = session["timestamp_ms"]
    assert session == {
        # The session result joins the span that ended the session.
        "join_on": {"span": {"trace_id": str(int(END_TRACE, 16)), "span_id": str(int(END_SPAN, 16))}},
        "ml_app": "chat-app",
        "timestamp_ms": timestamp,
        "metric_type": "categorical",
        "label": "goal_completeness",
        "categorical_value": "incomplete",
        "assessment": "fail",
        "reasoning": "One of two goals was left unresolved.",
        "tags": [
            "source:otel",
            "service:chat-app",
            "session_id:sess-42",
            "evaluation_level:session",
            "revision:1",
            "trigger:end_span",
            "annotator_kind:LLM",
            "evaluator_version:2",
            "judge_model:gpt-4o-mini",
            "score:0.5",
        ],
    }
    assert isinstance(timestamp, int) and timestamp > 1_600_000_000_000
    trace = by_label["trajectory"]
    assert trace["join_on"]["span"] == {"trace_id": str(int(TRACE, 16)), "span_id": str(int(ROOT_SPAN, 16))}
    assert (trace["metric_type"], trace["score_value"]) == ("score", 0.5)
    assert "assessment" not in trace and "categorical_value" not in trace  # no pass criterion: no assessment
    span = by_label["toxicity"]
    assert span["join_on"]["span"] == {"trace_id": str(int(TRACE, 16)), "span_id": str(int(SPAN, 16))}
    assert (span["metric_type"], span["categorical_value"], span["assessment"]) == ("categorical", "non-toxic", "pass")
    assert "annotator_kind:CODE" in span["tags"] and not any(t.startswith("judge_model:") for t in span["tags"])


def test_a_resend_is_the_same_metric():
    async def main():
        async with FakeDatadog() as server:
            b = backend(server)
            try:
                records = verdict_records()
                assert (await b.attempt(records)).delivered
                assert (await b.attempt(records)).delivered  # a retry
            finally:
                await b.close()
            return server

    server = asyncio.run(main())
    first, second = server.metrics[:3], server.metrics[3:]
    assert first == second  # same join_on, label, value and timestamp_ms


def test_the_timestamp_is_the_verdicts_when_the_record_carries_it():
    carrying = record(end_ns=1_765_990_800_016_123_456)
    b = DatadogBackend(DatadogConfig(site="datadoghq.com"), API_KEY)
    assert b.timestamp_ms(carrying) == 1_765_990_800_016


def test_ml_app_from_config_or_the_tenant_and_labels_in_datadogs_alphabet():
    async def main():
        async with FakeDatadog() as server:
            await attempt(server, [record(name="goal completeness (v2)")], ml_app="support-bot")
            await attempt(server, [record(tenant="Chat App/EU", name="2fa_check")])
            return server

    server = asyncio.run(main())
    assert [(m["ml_app"], m["label"]) for m in server.metrics] == [
        ("support-bot", "goal_completeness__v2_"),
        ("chat_app/eu", "eval_2fa_check"),
    ]
    assert metric_label("émotion") == "eval__motion" and metric_label("x" * 300) == "x" * 200
    assert ml_app_of("__") == "collector_eval"


def test_failed_and_skipped_results_send_nothing():
    async def main():
        async with FakeDatadog() as server:
            records = [r for r in verdict_records() if r.status != ResultStatus.OK]
            assert (await attempt(server, records)).delivered
            return server

    assert asyncio.run(main()).requests == 0


def test_a_score_json_cannot_carry_is_left_out():
    async def main():
        async with FakeDatadog() as server:
            assert (
                await attempt(server, [record(score=math.nan), record(name="other", score=math.inf, label=None)])
            ).delivered
            return server

    (metric,) = asyncio.run(main()).metrics
    assert metric["categorical_value"] == "incomplete" and not any(t.startswith("score:") for t in metric["tags"])


def test_a_wrong_api_key_is_refused_and_in_no_reason():
    async def main():
        async with FakeDatadog() as server:
            return await attempt(server, [record()], api_key="dd-wrong-key")

    outcome = asyncio.run(main())
    assert not outcome.delivered and not outcome.retry and "403" in outcome.reason
    assert "dd-wrong-key" not in outcome.reason


def test_a_key_echoed_in_a_refusal_is_masked():
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"errors": [f"bad key {request.headers['DD-API-KEY']}"]}, status=400)

    async def main():
        async with FakeHttp(PATH, echo) as server:
            return await attempt(server, [record()])

    outcome = asyncio.run(main())
    assert not outcome.retry and API_KEY not in outcome.reason and "***" in outcome.reason


def test_429_with_retry_after_is_retried_after_that_delay():
    async def main():
        async with FakeDatadog() as server:
            server.answer_first(429, headers={"Retry-After": "12"})
            return await attempt(server, [record()]), server

    outcome, server = asyncio.run(main())
    assert outcome.retry and outcome.delay_s == 12.0 and "429" in outcome.reason and not server.metrics


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_backoff(status):
    async def main():
        async with FakeDatadog() as server:
            server.answer_first(status)
            return await attempt(server, [record()])

    outcome = asyncio.run(main())
    assert outcome.retry and outcome.delay_s is None and str(status) in outcome.reason


def test_no_connection_is_retried():
    outcome = asyncio.run(attempt(FakeDatadog(), [record()]))  # never started: nothing listens
    assert outcome.retry and not outcome.delivered


def test_a_400_is_refused():
    async def main():
        async with FakeDatadog() as server:
            server.answer_first(400)
            return await attempt(server, [record()])

    outcome = asyncio.run(main())
    assert not outcome.delivered and not outcome.retry and "400" in outcome.reason


def test_an_outage_is_survived_through_deliver_with_one_copy_of_each_metric(monkeypatch):
    # A 30 s outage as the client sees it: 503 after 503, then answers; backoff shortened so the test
    # does not wait it out.
    monkeypatch.setattr(delivery, "BACKOFF", Backoff(initial_s=0.001, max_s=0.005))

    async def main():
        async with FakeDatadog() as server:
            server.answer_first(503, times=30)
            b = backend(server)
            try:
                ok = await delivery.deliver(lambda: b.attempt(verdict_records()), "datadog", math.inf)
            finally:
                await b.close()
            return ok, server

    ok, server = asyncio.run(main())
    assert ok and server.requests == 31
    assert sorted(m["label"] for m in server.metrics) == ["goal_completeness", "toxicity", "trajectory"]


# Configuration


def test_url_from_site_or_endpoint_and_enabled(monkeypatch):
    assert DatadogConfig(site="datadoghq.eu").url == "https://api.datadoghq.eu" + PATH
    assert DatadogConfig(site="datadoghq.com", endpoint="http://proxy:8080/").url == "http://proxy:8080" + PATH
    assert not DatadogConfig().enabled and DatadogConfig(endpoint="http://proxy:8080").enabled
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    cfg = DatadogConfig(site="us5.datadoghq.com", ml_app="support-bot")
    cfg.validate("exporters.datadog")
    assert build_datadog(cfg).name == "datadog"


def test_missing_api_key_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.delenv("DD_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"exporters\.datadog\.api_key_env: .*DD_API_KEY"):
        build_datadog(DatadogConfig(site="datadoghq.com"))


@pytest.mark.parametrize(
    "site", ["https://datadoghq.com", "api.datadoghq.com", "datadoghq.com/", "datadoghq", "Datadog HQ"]
)
def test_bad_site_is_a_config_error_naming_the_key(site):
    with pytest.raises(ConfigError, match=r"exporters\.datadog\.site: "):
        DatadogConfig(site=site).validate("exporters.datadog")


@pytest.mark.parametrize("endpoint", ["proxy:8080", "ftp://proxy", "http://", "http://proxy?x=1"])
def test_bad_endpoint_is_a_config_error_naming_the_key(endpoint):
    with pytest.raises(ConfigError, match=r"exporters\.datadog\.endpoint: "):
        DatadogConfig(endpoint=endpoint).validate("exporters.datadog")


@pytest.mark.parametrize("ml_app", ["Support Bot", "bot__eu", "bot_", "x" * 194])
def test_bad_ml_app_is_a_config_error_naming_the_key(ml_app):
    with pytest.raises(ConfigError, match=r"exporters\.datadog\.ml_app: "):
        DatadogConfig(site="datadoghq.com", ml_app=ml_app).validate("exporters.datadog")


def test_bad_timeout_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"exporters\.datadog\.timeout_s: "):
        DatadogConfig(site="datadoghq.com", timeout_s=-1).validate("exporters.datadog")


def test_building_a_disabled_backend_is_refused():
    with pytest.raises(ConfigError, match=r"exporters\.datadog\.site: "):
        build_datadog(DatadogConfig())
