"""The evaluator interface and the result every evaluator returns, whatever its outcome."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    from collector_eval.judge import Judge
    from collector_eval.transcript import Transcript

Status = Literal["ok", "error", "skipped"]


@dataclass
class EvaluationResult:
    name: str
    status: Status
    score: float | None = None
    label: str | None = None
    explanation: str = ""
    # Machine-readable reason for an error (e.g. "judge_unparseable") or a skip (e.g. "no_content").
    error_type: str | None = None
    # Extra event attributes, already strings (JSON-encoded where structured).
    attributes: dict[str, str] = field(default_factory=dict)
    judge_model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0

    @classmethod
    def skipped(cls, name: str, reason: str, explanation: str) -> "EvaluationResult":
        return cls(name=name, status="skipped", error_type=reason, explanation=explanation)

    @classmethod
    def failed(cls, name: str, error_type: str, explanation: str) -> "EvaluationResult":
        return cls(name=name, status="error", error_type=error_type, explanation=explanation)


class Evaluator(Protocol):
    name: ClassVar[str]
    level: ClassVar[Literal["session", "trace", "span"]]
    needs_judge: ClassVar[bool]
    labels: ClassVar[tuple[str, ...]]
    version: ClassVar[str]

    async def evaluate(self, transcript: "Transcript", judge: "Judge | None") -> EvaluationResult:
        """Judge one transcript. Never raises for a judge failure: returns an error result."""
        ...
