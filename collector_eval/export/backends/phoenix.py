"""Verdicts as Arize Phoenix annotations, through Phoenix's REST API (Phoenix 12 and later): a
session-level result is a session annotation, a trace-level one a trace annotation, a span-level one
a span annotation, each shown beside the conversation it judged.

Each annotation carries the record's stable identifier; Phoenix upserts on (name, subject,
identifier), so a retry, a restart mid-delivery or a re-evaluation of the session leaves one
annotation holding the latest values. A failed or skipped result is never a score: it is an
annotation with no score whose label is the status ("error" or "skipped"), the reason in the
explanation and in metadata.error_type.

Requests use `?sync=true`, so that Phoenix says 404 when it has not ingested the session, trace or
span yet (the spans went downstream moments ago, or are still in a batch): such a verdict is retried
until `not_found_retry_s` after its first 404, then refused (dropped and counted by the publisher).
The publisher delivers a batch of verdicts at once, so an older revision still retrying must not
overwrite a newer one written meanwhile: the backend remembers the newest revision it wrote per
annotation and leaves older ones out."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from collector_eval.config.checks import ConfigError, check_non_negative, check_positive
from collector_eval.export.backends.checks import check_base_url, key_from_env
from collector_eval.export.backends.http_json import JsonPoster
from collector_eval.export.delivery import DELIVERED, Outcome
from collector_eval.export.results import ResultRecord
from collector_eval.model import Level

CONFIG_PATH = "exporters.phoenix"
# Per level: the REST route that takes its annotations and the field naming the annotated subject.
ROUTES = {
    Level.SESSION: ("/v1/session_annotations", "session_id"),
    Level.TRACE: ("/v1/trace_annotations", "trace_id"),
    Level.SPAN: ("/v1/span_annotations", "span_id"),
}
# A first 404 older than this past not_found_retry_s is forgotten: its verdict was given up by the
# publisher for another reason (or delivered elsewhere), and would get a fresh window if it came back.
FORGET_AFTER_S = 3600
# How many annotations' newest written revision the backend remembers (about 100 bytes each), so that
# an older revision still retrying (say both waited on a 404 together) never overwrites a newer one.
REVISIONS_KEPT = 100_000


@dataclass
class PhoenixConfig:
    # Phoenix's base URL, the one its UI is served on (e.g. "http://127.0.0.1:6006"); verdicts are
    # written there as session, trace and span annotations. Empty: off.
    endpoint: str = ""
    # Name of the environment variable holding a Phoenix API key, sent as "Authorization: Bearer
    # <key>" (for a Phoenix with authentication on). Empty: no key is sent.
    api_key_env: str = ""
    # How long a result is retried while Phoenix answers 404 because it has not ingested the session,
    # trace or span yet, counted from the first 404; then it is dropped (and counted as failed).
    not_found_retry_s: float = 300
    # Limit on one request to Phoenix, in seconds; a request past it is retried.
    timeout_s: float = 10

    @property
    def enabled(self) -> bool:
        return bool(self.endpoint)

    def validate(self, path: str) -> None:
        if self.endpoint:
            check_base_url(self.endpoint, f"{path}.endpoint")
            if self.endpoint.rstrip("/").endswith("/v1"):
                raise ConfigError(
                    f"{path}.endpoint: {self.endpoint!r} ends with /v1; give Phoenix's base URL "
                    "(e.g. http://127.0.0.1:6006), the /v1/... routes are added to it"
                )
        check_non_negative(self.not_found_retry_s, f"{path}.not_found_retry_s")
        check_positive(self.timeout_s, f"{path}.timeout_s")


def annotation(record: ResultRecord) -> dict[str, Any]:
    """One result as the annotation Phoenix takes, for the route of its level."""
    if record.ok:
        score = record.score if record.score is not None and math.isfinite(record.score) else None
        result = {"label": record.label, "score": score, "explanation": record.explanation or None}
    else:
        # Never a score: the status as the label, the reason as the explanation.
        reason = ": ".join(part for part in (record.error_type, record.explanation) if part)
        result = {"label": str(record.status), "score": None, "explanation": reason or None}
    route_field = ROUTES[record.level][1]
    subject = {"session_id": record.session_id, "trace_id": record.trace_id, "span_id": record.span_id}[route_field]
    return {
        "name": record.name,
        "annotator_kind": record.annotator_kind,
        "result": result,
        "metadata": record.metadata(),
        "identifier": record.identifier,
        route_field: subject,
    }


class PhoenixBackend:
    name = "phoenix"

    def __init__(self, cfg: PhoenixConfig, api_key: str = "", clock: Callable[[], float] = time.monotonic):
        self._cfg = cfg
        self._base = cfg.endpoint.rstrip("/")
        self._poster = JsonPoster(
            cfg.timeout_s, headers={"Authorization": f"Bearer {api_key}"} if api_key else {}, secrets=(api_key,)
        )
        self._clock = clock
        # (identifier, revision) -> when Phoenix first said 404 for the verdict holding that record.
        self._first_404: dict[tuple[str, int], float] = {}
        # identifier -> the newest revision written under it, least recently written first.
        self._written: OrderedDict[str, int] = OrderedDict()

    async def attempt(self, records: list[ResultRecord]) -> Outcome:
        by_level: dict[Level, list[ResultRecord]] = {}
        for record in records:
            # An older revision than one already written (it retried longer) is left out: taken.
            if self._written.get(record.identifier, -1) <= record.revision:
                by_level.setdefault(record.level, []).append(record)
        # Every level is written on every attempt: an annotation already written is upserted in
        # place, so writing it again after another level's failure changes nothing.
        answers = {level: await self._post(level, group) for level, group in by_level.items()}
        # http_json's rule for every answer but a 404, which (?sync=true) says Phoenix has not ingested
        # the subject yet: retried until not_found_retry_s, where the rule would refuse it at once.
        missing = [level for level, (status, _) in answers.items() if status == 404]
        outcomes = [outcome for status, outcome in answers.values() if status != 404]
        refused = [o for o in outcomes if not o.delivered and not o.retry]
        if refused:
            self._forget(records)
            return Outcome(retry=False, reason="; ".join(o.reason for o in refused))
        retry = [o for o in outcomes if o.retry]
        now = self._clock()
        if missing:
            for level in missing:
                for record in by_level[level]:
                    self._first_404.setdefault((record.identifier, record.revision), now)
        if retry:
            # Each level's answer may ask its own delay: the longest, so that no level is tried early.
            delays = [o.delay_s for o in retry if o.delay_s is not None]
            return Outcome(
                retry=True, delay_s=max(delays) if delays else None, reason="; ".join(o.reason for o in retry)
            )
        if missing:
            reason = "; ".join(answers[level][1].reason for level in missing)
            first = min(self._first_404[(r.identifier, r.revision)] for level in missing for r in by_level[level])
            if now - first >= self._cfg.not_found_retry_s:
                self._forget(records)
                return Outcome(
                    retry=False,
                    reason=f"Phoenix has not ingested what the verdict annotates {now - first:.0f}s after its first 404 ({reason})",
                )
            return Outcome(retry=True, reason=f"not ingested by Phoenix yet ({reason})")
        self._forget(records)
        self._prune(now)
        for record in records:
            if self._written.get(record.identifier, -1) <= record.revision:
                self._written[record.identifier] = record.revision
                self._written.move_to_end(record.identifier)
        while len(self._written) > REVISIONS_KEPT:
            self._written.popitem(last=False)
        return DELIVERED

    async def _post(self, level: Level, records: list[ResultRecord]) -> tuple[int, Outcome]:
        """The answer's status (0: none) and outcome, its reason naming the route: a verdict may
        write to three."""
        path, _ = ROUTES[level]
        status, outcome = await self._poster.post(
            f"{self._base}{path}?sync=true", {"data": [annotation(r) for r in records]}
        )
        if not outcome.delivered:
            outcome = dataclasses.replace(outcome, reason=f"{path} {outcome.reason}")
        return status, outcome

    def _forget(self, records: list[ResultRecord]) -> None:
        for record in records:
            self._first_404.pop((record.identifier, record.revision), None)

    def _prune(self, now: float) -> None:
        horizon = self._cfg.not_found_retry_s + FORGET_AFTER_S
        for key in [k for k, first in self._first_404.items() if now - first > horizon]:
            del self._first_404[key]

    async def close(self) -> None:
        await self._poster.close()


def build_phoenix(cfg: PhoenixConfig, environ: Mapping[str, str] = os.environ) -> PhoenixBackend:
    """The backend for exporters.phoenix, its API key read from the variable api_key_env names (none
    named: no key, for a Phoenix with authentication off)."""
    api_key = ""
    if cfg.api_key_env:
        api_key = key_from_env(cfg.api_key_env, f"{CONFIG_PATH}.api_key_env", "the Phoenix API key", environ)
    return PhoenixBackend(cfg, api_key=api_key)
