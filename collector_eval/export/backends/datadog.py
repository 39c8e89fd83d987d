"""Datadog LLM Observability: every result of a verdict as an evaluation metric
(POST https://api.<site>/api/intake/llm-obs/v2/eval-metric, header DD-API-KEY), joined to the span
it judged, so that it shows on that span's Evaluations tab and in the evaluations of the ml_app.

- one metric per result, `join_on` {span: {trace_id, span_id}} in decimal: a span result joins its
  span, a trace result the trace's root span, a session result the span that ended the session;
- `metric_type` categorical (`categorical_value` the label) when the result has a label, otherwise
  score (`score_value`); a result with both keeps its score as the tag `score:<value>`;
- `label` the evaluator's result name in Datadog's alphabet (ASCII letters, digits, underscore,
  starting with a letter), `assessment` pass/fail from the evaluator's pass criterion (absent when
  it has none), `reasoning` the explanation, `tags` source:otel and where the result came from;
- a failed or skipped result is never a metric: it is not sent; its reason stays on the OTLP
  carrier span and in the control API.

Datadog takes no idempotency key, and documents none: a metric sent twice is two submissions (each
gets its own id in the answer). What we can do is make the two the same metric: the same join_on,
label, value and timestamp_ms. timestamp_ms is the verdict's time (ResultRecord.end_ns; for a record
queued before records kept it, the time this process first tried it, kept for its retries).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from collector_eval.config.checks import ConfigError, check_positive
from collector_eval.export.backends.checks import check_base_url, check_env_name, key_from_env
from collector_eval.export.backends.http_json import JsonPoster
from collector_eval.export.delivery import DELIVERED, Outcome
from collector_eval.export.results import ResultRecord

log = logging.getLogger(__name__)

PATH = "/api/intake/llm-obs/v2/eval-metric"
CONFIG_PATH = "exporters.datadog"
# A Datadog site as its docs name them: datadoghq.com, us3.datadoghq.com, datadoghq.eu, ap1.datadoghq.com ...
_SITE = re.compile(r"^(?!api\.)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
# Datadog's application naming rules: lowercase alphanumerics, _ - : . /, at most 193 characters, no
# contiguous or trailing underscores.
_ML_APP = re.compile(r"^[a-z0-9_\-:./]{1,193}$")
_ML_APP_BAD = re.compile(r"[^a-z0-9_\-:./]+")
_LABEL_BAD = re.compile(r"[^A-Za-z0-9_]")
LABEL_MAX = 200
TAG_MAX = 200
# Records whose first-try time is kept for their retries (when the record carries no time of its own).
_FIRST_TRIED_MAX = 10_000


@dataclass
class DatadogConfig:
    # Datadog site the metrics go to: datadoghq.com, us3.datadoghq.com, us5.datadoghq.com,
    # datadoghq.eu, ap1.datadoghq.com, ap2.datadoghq.com; the URL is https://api.<site>/api/intake/llm-obs/v2/eval-metric.
    # Empty (and endpoint empty): off.
    site: str = ""
    # Base URL that replaces https://api.<site> (a proxy, a test server), e.g. http://127.0.0.1:8080;
    # /api/intake/llm-obs/v2/eval-metric is appended. Empty: derived from site.
    endpoint: str = ""
    # Environment variable holding the Datadog API key (sent as the DD-API-KEY header).
    api_key_env: str = "DD_API_KEY"
    # The LLM Observability application the evaluations are filed under; empty: the session's tenant
    # (its service.name), lowercased to Datadog's naming rules.
    ml_app: str = ""
    # Seconds one request to Datadog may take before it counts as failed and is retried.
    timeout_s: float = 10

    @property
    def enabled(self) -> bool:
        return bool(self.site or self.endpoint)

    @property
    def url(self) -> str:
        base = self.endpoint.rstrip("/") if self.endpoint else f"https://api.{self.site}"
        return base + PATH

    def validate(self, path: str) -> None:
        if self.site and not _SITE.match(self.site):
            hint = " (the site alone, e.g. datadoghq.com: no scheme, no api. prefix, no path)"
            raise ConfigError(f"{path}.site: {self.site!r} is not a Datadog site{hint}")
        if self.endpoint:
            check_base_url(self.endpoint, f"{path}.endpoint")
        if self.ml_app and (not _ML_APP.match(self.ml_app) or "__" in self.ml_app or self.ml_app.endswith("_")):
            raise ConfigError(
                f"{path}.ml_app: {self.ml_app!r} is not a Datadog application name (lowercase letters, digits, "
                "_ - : . /, at most 193 characters, no double or trailing underscore)"
            )
        if self.enabled:
            check_env_name(self.api_key_env, f"{path}.api_key_env")
        check_positive(self.timeout_s, f"{path}.timeout_s")


def metric_label(name: str) -> str:
    """An evaluator name as a Datadog evaluation label: other characters become underscores, and it
    starts with a letter."""
    label = _LABEL_BAD.sub("_", name)
    if not label[:1].isalpha():
        label = "eval_" + label
    return label[:LABEL_MAX]


def ml_app_of(tenant: str) -> str:
    """A tenant (service.name) under Datadog's application naming rules."""
    app = re.sub(r"_+", "_", _ML_APP_BAD.sub("_", tenant.lower()))[:193].rstrip("_")
    return app or "collector_eval"


def _tag(key: str, value: object) -> str:
    return f"{key}:{value}"[:TAG_MAX]


def decimal_id(hex_id: str) -> str:
    return str(int(hex_id, 16))


class DatadogBackend:
    name = "datadog"

    def __init__(self, cfg: DatadogConfig, api_key: str):
        self._url = cfg.url
        self._ml_app = cfg.ml_app
        self._poster = JsonPoster(cfg.timeout_s, headers={"DD-API-KEY": api_key}, secrets=(api_key,))
        self._first_tried: OrderedDict[tuple[str, int], int] = OrderedDict()

    def timestamp_ms(self, record: ResultRecord) -> int:
        """The same for every send of one record: its verdict's time when it carries one."""
        if record.end_ns:
            return record.end_ns // 1_000_000
        key = (record.identifier, record.revision)
        if key not in self._first_tried:
            self._first_tried[key] = int(time.time() * 1000)
            while len(self._first_tried) > _FIRST_TRIED_MAX:
                self._first_tried.popitem(last=False)
        return self._first_tried[key]

    def metric(self, record: ResultRecord) -> dict[str, Any] | None:
        """The evaluation metric of one record; None for a failed or skipped result, or one with
        neither score nor label, or no span to join."""
        score = record.score if record.score is not None and math.isfinite(record.score) else None  # JSON has no NaN
        if not record.ok or (score is None and record.label is None):
            return None
        if not record.trace_id or not record.span_id or not int(record.span_id, 16):
            log.warning(
                "datadog: result %s of session %s has no span to join; not sent", record.name, record.session_id
            )
            return None
        tags = [
            "source:otel",
            _tag("service", record.tenant),
            _tag("session_id", record.session_id),
            _tag("evaluation_level", record.level),
            _tag("revision", record.revision),
            _tag("trigger", record.trigger),
            _tag("annotator_kind", record.annotator_kind),
            _tag("evaluator_version", record.evaluator_version),
        ]
        if record.judge_model:
            tags.append(_tag("judge_model", record.judge_model))
        out: dict[str, Any] = {
            "join_on": {"span": {"trace_id": decimal_id(record.trace_id), "span_id": decimal_id(record.span_id)}},
            "ml_app": self._ml_app or ml_app_of(record.tenant),
            "timestamp_ms": self.timestamp_ms(record),
            "label": metric_label(record.name),
        }
        if record.label is not None:
            out["metric_type"], out["categorical_value"] = "categorical", record.label
            if score is not None:
                tags.append(_tag("score", score))
        else:
            out["metric_type"], out["score_value"] = "score", score
        if record.passed is not None:
            out["assessment"] = "pass" if record.passed else "fail"
        if record.explanation:
            out["reasoning"] = record.explanation
        out["tags"] = tags
        return out

    async def attempt(self, records: list[ResultRecord]) -> Outcome:
        """All metrics of one verdict in one request; nothing sent when it has none."""
        metrics = [m for m in map(self.metric, records) if m is not None]
        if not metrics:
            return DELIVERED
        body = {"data": {"type": "evaluation_metric", "attributes": {"metrics": metrics}}}
        _, outcome = await self._poster.post(self._url, body)
        return outcome

    async def close(self) -> None:
        await self._poster.close()


def build_datadog(cfg: DatadogConfig) -> DatadogBackend:
    """The backend of an enabled config, its API key read from the environment (never logged)."""
    if not cfg.enabled:
        raise ConfigError(f"{CONFIG_PATH}.site: empty (and endpoint empty), the Datadog backend is off")
    return DatadogBackend(cfg, key_from_env(cfg.api_key_env, f"{CONFIG_PATH}.api_key_env", "the Datadog API key"))
