"""Options of an evaluators[] entry."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from collector_eval.config.checks import ConfigError

# OpenInference span kinds, which spans of the other conventions are mapped onto.
SPAN_KINDS = (
    "LLM",
    "TOOL",
    "CHAIN",
    "AGENT",
    "RETRIEVER",
    "EMBEDDING",
    "RERANKER",
    "GUARDRAIL",
    "EVALUATOR",
    "UNKNOWN",
)


@dataclass
class EvaluatorFiltersConfig:
    # Span kinds judged; empty: the evaluator's own (LLM spans for most span-level built-ins).
    span_kind: list[str] = field(default_factory=list)
    # Glob patterns (fnmatch, case-sensitive) of the span names judged; empty: any name.
    span_name: list[str] = field(default_factory=list)
    # Attribute key -> the value, as text, a judged span must carry.
    attributes: dict[str, str] = field(default_factory=dict)

    def validate(self, path: str) -> None:
        for i, kind in enumerate(self.span_kind):
            if kind not in SPAN_KINDS:
                raise ConfigError(f"{path}.span_kind[{i}]: {kind!r} is not one of {', '.join(SPAN_KINDS)}")


@dataclass
class CustomOutputConfig:
    # A bare string where the mapping is expected is its type: `output: boolean`.
    shorthand: typing.ClassVar[str] = "type"
    type: str = "boolean"  # boolean | score | categories | json
    min: float = 0  # score
    max: float = 1  # score
    categories: dict[str, str] = field(default_factory=dict)  # categories: name -> description
    schema: dict[str, Any] = field(default_factory=dict)  # json: the JSON schema of the answer


@dataclass
class EvaluatorConfig:
    # A bare string in the evaluators list is a name: `evaluators: [goal_completeness]`.
    shorthand: typing.ClassVar[str] = "name"
    name: str = ""
    # The built-in this entry runs, or custom_judge; empty: the built-in called `name`.
    type: str = ""
    enabled: bool = True
    # Share of sessions, traces or spans judged, drawn from a hash of their id (a retry draws the same).
    sample_rate: float = 1
    filters: EvaluatorFiltersConfig = field(default_factory=EvaluatorFiltersConfig)
    # topic_relevancy: the topics the application is meant to cover.
    topics: list[str] = field(default_factory=list)
    # failure_to_answer: the response categories that fail.
    fail_categories: list[str] = field(default_factory=lambda: ["empty_response", "refusal_response"])
    # toxicity: the categories that flag a span.
    flag_categories: list[str] = field(
        default_factory=lambda: [
            "discriminatory_content",
            "harassment",
            "hate",
            "illicit",
            "self_harm",
            "sexual",
            "violence",
        ]
    )
    # trajectory: calls of one tool with the same arguments past this count are a loop.
    max_repeated_calls: int = 2
    # custom_judge: what it judges, its prompt template, its answer and when that answer passes.
    level: str = "session"
    prompt: str = ""
    output: CustomOutputConfig = field(default_factory=CustomOutputConfig)
    pass_when: str = ""

    def validate(self, path: str) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum() or not self.name.isascii():
            # It names a JSON schema for the judge and an attribute key segment.
            raise ConfigError(f"{path}.name: {self.name!r} must be non-empty letters, digits, _ or -")
        if not 0 <= self.sample_rate <= 1:
            raise ConfigError(f"{path}.sample_rate: must be between 0 and 1, got {self.sample_rate!r}")
        # The rest (the type's own options) is the evaluator's to check: evaluators.check_config.
        self.filters.validate(f"{path}.filters")
