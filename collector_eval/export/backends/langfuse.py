"""Langfuse: every result of a verdict as Langfuse scores (POST /api/public/scores, basic auth with
the project's public and secret key), where Langfuse users read them, beside the session, trace or
observation that was judged.

- a session-level result scores the session (`sessionId`), a trace-level one the trace (`traceId`),
  a span-level one the observation (`traceId` + `observationId`, the OTel span id Langfuse files
  the span under);
- a score is a NUMERIC score, a label a CATEGORICAL one (a result with both: two scores of one
  name); `comment` is the explanation, `metadata` the record's (revision, trigger, judge model,
  tokens, evaluator version, pass);
- each score has an `id` derived from (tenant, session, level, subject, evaluator, revision, kind):
  Langfuse upserts scores by id, so a retry or a resend after a restart rewrites the same score
  instead of adding one, and a new revision of the session adds its own scores beside the old;
- a failed or skipped result is never a score: it is not sent (Langfuse has no score without a
  value); its reason stays on the OTLP carrier span and in the control API.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from collector_eval.config.checks import ConfigError, check_positive
from collector_eval.export.backends.checks import check_base_url, check_env_name, key_from_env
from collector_eval.export.backends.http_json import JsonPoster, basic_auth
from collector_eval.export.delivery import DELIVERED, Outcome
from collector_eval.export.results import ResultRecord
from collector_eval.model import Level

PATH = "/api/public/scores"
CONFIG_PATH = "exporters.langfuse"
# Answers that would refuse every score of the verdict alike: wrong keys, no such project or path.
REFUSES_ALL = {401, 403, 404, 405}
# uuid5 namespace of collector-eval's Langfuse score ids (fixed: changing it would double every score).
SCORE_NAMESPACE = uuid.UUID("6f0b4c1e-2d3a-5b8e-9c47-1e5d2a7f3b60")


@dataclass
class LangfuseConfig:
    # Langfuse's base URL, e.g. https://cloud.langfuse.com, https://us.cloud.langfuse.com or a
    # self-hosted one; results go to <endpoint>/api/public/scores. Empty: off.
    endpoint: str = ""
    # Environment variable holding the Langfuse project's public key (the basic-auth user name).
    public_key_env: str = "LANGFUSE_PUBLIC_KEY"
    # Environment variable holding the Langfuse project's secret key (the basic-auth password).
    secret_key_env: str = "LANGFUSE_SECRET_KEY"
    # Seconds one request to Langfuse may take before it counts as failed and is retried.
    timeout_s: float = 10

    @property
    def enabled(self) -> bool:
        return bool(self.endpoint)

    def validate(self, path: str) -> None:
        if self.endpoint:
            check_base_url(self.endpoint, f"{path}.endpoint")
        if self.enabled:
            check_env_name(self.public_key_env, f"{path}.public_key_env")
            check_env_name(self.secret_key_env, f"{path}.secret_key_env")
        check_positive(self.timeout_s, f"{path}.timeout_s")


def score_id(record: ResultRecord, kind: str) -> str:
    """The score's id: the same for the same result of the same revision, whatever the attempt."""
    return str(uuid.uuid5(SCORE_NAMESPACE, f"{record.identifier}:{record.revision}:{kind}"))


def scores(record: ResultRecord) -> list[dict[str, Any]]:
    """The Langfuse score bodies of one record: none for a failed or skipped result."""
    if not record.ok:
        return []
    target: dict[str, Any]
    if record.level == Level.SESSION:
        target = {"sessionId": record.session_id}
    elif record.level == Level.TRACE:
        target = {"traceId": record.trace_id}
    else:
        target = {"traceId": record.trace_id, "observationId": record.span_id}
    common = {**target, "name": record.name, "comment": record.explanation, "metadata": record.metadata()}
    out = []
    if record.score is not None and math.isfinite(record.score):  # JSON has no NaN or infinity
        out.append({"id": score_id(record, "numeric"), **common, "dataType": "NUMERIC", "value": record.score})
    if record.label is not None:
        out.append({"id": score_id(record, "categorical"), **common, "dataType": "CATEGORICAL", "value": record.label})
    return out


class LangfuseBackend:
    name = "langfuse"

    def __init__(self, cfg: LangfuseConfig, public_key: str, secret_key: str):
        self._url = cfg.endpoint.rstrip("/") + PATH
        self._poster = JsonPoster(
            cfg.timeout_s,
            headers={"Authorization": basic_auth(public_key, secret_key)},
            secrets=(public_key, secret_key),
        )

    async def attempt(self, records: list[ResultRecord]) -> Outcome:
        """Every score of one verdict, one request each (the endpoint takes one score). Stops at the
        first answer worth retrying (the whole verdict is resent: the ids make that harmless), and at
        an answer that refuses every request alike (bad keys, no such endpoint); a score refused for
        itself does not keep the others from being written, and makes the verdict refused."""
        refused: list[str] = []
        for record in records:
            for body in scores(record):
                status, outcome = await self._poster.post(self._url, body)
                if outcome.retry or status in REFUSES_ALL:
                    return outcome
                if not outcome.delivered:
                    refused.append(f"{record.name} ({body['dataType']}): {outcome.reason}")
        if refused:
            return Outcome(retry=False, reason="; ".join(refused))
        return DELIVERED

    async def close(self) -> None:
        await self._poster.close()


def build_langfuse(cfg: LangfuseConfig) -> LangfuseBackend:
    """The backend of an enabled config, its keys read from the environment (never logged)."""
    if not cfg.enabled:
        raise ConfigError(f"{CONFIG_PATH}.endpoint: empty, the Langfuse backend is off")
    public_key = key_from_env(cfg.public_key_env, f"{CONFIG_PATH}.public_key_env", "the Langfuse public key")
    secret_key = key_from_env(cfg.secret_key_env, f"{CONFIG_PATH}.secret_key_env", "the Langfuse secret key")
    return LangfuseBackend(cfg, public_key, secret_key)
