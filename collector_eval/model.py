"""The domain types every stage shares, and the vocabularies they speak.

Stages pass these to one another; keeping them here, below every stage, is what lets imports run one
way (ingest -> sessions, evaluation -> sessions and export, never back). Vocabularies are StrEnums
because their values travel as plain strings: span attributes, Redis hash fields, Lua scripts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans


class Trigger(StrEnum):
    """What scheduled a session's evaluation (recorded on the session and on its verdict)."""

    END_SPAN = "end_span"  # a span carried the end marker
    LATE_SPANS = "late_spans"  # spans arrived after the verdict (session.late_spans: reevaluate)
    IDLE_TIMEOUT = "idle_timeout"
    MAX_DURATION = "max_duration"
    CONTROL = "control"  # the control API: EndSession or Reevaluate
    OFFLINE = "offline"  # `collector-eval evaluate FILE`, no service involved


class Level(StrEnum):
    """What one evaluation judges."""

    SESSION = "session"
    TRACE = "trace"
    SPAN = "span"


class ResultStatus(StrEnum):
    OK = "ok"
    ERROR = "error"  # judging failed: error_type says why
    SKIPPED = "skipped"  # not judged, by choice or for want of content: error_type says why


class Forwarding(StrEnum):
    """What forwarding.mode: on_verdict decided for a session's spans."""

    KEPT = "kept"
    DROPPED = "dropped"


# The rule index of a decision no forwarding.keep rule made: dropped because none matched, or kept
# because the session had no verdict within forwarding.hold_max_s.
NO_RULE = -1


@dataclass(frozen=True)
class ForwardingDecision:
    """A session's forwarding decision, as its hash records it for the release of its spans (the
    store script reads only whether it starts with "kept")."""

    decision: Forwarding
    rule: int  # the forwarding.keep rule that decided (its index), or NO_RULE
    exporters: tuple[str, ...] = ()  # named exporters the spans go to; empty: the default ones

    @property
    def kept(self) -> bool:
        return self.decision == Forwarding.KEPT

    def encode(self) -> str:
        return f"{self.decision}:{self.rule}:{','.join(self.exporters)}"

    @classmethod
    def parse(cls, raw: bytes | str) -> ForwardingDecision:
        text = raw.decode() if isinstance(raw, bytes) else raw
        decision, rule, exporters = text.split(":", 2)
        return cls(Forwarding(decision), int(rule), tuple(filter(None, exporters.split(","))))


class SessionKey(NamedTuple):
    """A session: its id is unique within its tenant. A tuple, so that hashing one (the ingest path
    keys a dict by it for every session of every request) runs in C."""

    tenant: str
    session_id: str


@dataclass
class EndSpan:
    trace_id: bytes
    span_id: bytes


@dataclass
class StoredSession:
    key: SessionKey
    # The span the verdict hangs under: the end span, or the session's last span when it was judged
    # without one (idle timeout, maximum duration).
    end_trace_id: bytes
    end_span_id: bytes
    id_attribute: str
    resource_spans: list[ResourceSpans] = field(default_factory=list)
    # Log records of the session's traces (GenAI events some instrumentations log instead of attributes).
    resource_logs: list[ResourceLogs] = field(default_factory=list)
    span_count: int = 0
    truncated: bool = False
    revision: int = 0
    trigger: str = ""
    judged_spans: int = -1  # distinct spans the last verdict covered (-1: never judged)
    # "<evaluator>:<span or trace id>" of every span and trace judged in an earlier revision: a new
    # revision judges only what is new, and never pays the judge twice for the same span.
    judged_subjects: set[str] = field(default_factory=set)


@dataclass
class EvaluationResult:
    name: str
    status: ResultStatus
    score: float | None = None
    label: str | None = None
    explanation: str = ""
    # Machine-readable reason for an error (e.g. "judge_unparseable") or a skip (e.g. "no_content").
    error_type: str | None = None
    # Extra event attributes, already strings (JSON-encoded where structured).
    attributes: dict[str, str] = field(default_factory=dict)
    judge_model: str | None = None  # None: decided without the judge
    input_tokens: int = 0
    output_tokens: int = 0
    # The evaluator's pass criterion applied to an ok result; None when it has none or did not judge.
    passed: bool | None = None
    cost: float | None = None  # of the judge tokens, when judge.prices lists the model

    @classmethod
    def skipped(cls, name: str, reason: str, explanation: str) -> EvaluationResult:
        return cls(name=name, status=ResultStatus.SKIPPED, error_type=reason, explanation=explanation)

    @classmethod
    def failed(cls, name: str, error_type: str, explanation: str) -> EvaluationResult:
        return cls(name=name, status=ResultStatus.ERROR, error_type=error_type, explanation=explanation)

    def as_dict(self) -> dict:
        """The result as the console verdict, `evaluate` and `sessions show` print it: only a real
        verdict has a score, label or pass; a failed or skipped one has them null, never 0."""
        ok = self.status == ResultStatus.OK
        return {
            "name": self.name,
            "status": str(self.status),
            "score": self.score if ok else None,
            "label": self.label if ok else None,
            "passed": self.passed if ok else None,
            "explanation": self.explanation,
            "error_type": self.error_type,
            "attributes": self.attributes,
        }
