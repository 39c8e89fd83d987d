"""Judges defined in configuration: a prompt template, an output type and a pass criterion.

The user's template is the task and goes in the system message; each variable in it names a block of
material, which goes in the user message as tagged data. A conversation that reaches the judge can
therefore never be read as part of the user's instructions.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, ClassVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from collector_eval.config.checks import ConfigError
from collector_eval.evaluation.evaluators.base import (
    Evaluator,
    Output,
    SessionEvaluator,
    SpanEvaluator,
    TraceEvaluator,
)
from collector_eval.evaluation.evaluators.options import EvaluatorConfig
from collector_eval.evaluation.evaluators.prompting import DATA_RULE, data_block
from collector_eval.evaluation.transcript.spans import SpanView, TraceView
from collector_eval.model import EvaluationResult

ATTR_ANSWER = "collector_eval.evaluation.answer"
OUTPUT_TYPES = ("boolean", "score", "categories", "json")
# The variables a template may use, by level: each is a block of material.
VARIABLES = {"session": ("transcript",), "span": ("input", "output"), "trace": ("trace",)}
_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_SCORE_PASS = re.compile(r"^\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


class CustomJudge(Evaluator):
    """The part common to every level; CUSTOM_JUDGES below picks the class for a config's level."""

    name = "custom_judge"
    options: ClassVar[tuple[str, ...]] = ("level", "prompt", "output", "pass_when")

    def __init__(self, config: EvaluatorConfig | None = None) -> None:
        super().__init__(config)
        out = self.config.output
        self.version = _version(self.config)
        template = _VARIABLE.sub(lambda m: f"the <{m.group(1)}> block", self.config.prompt)
        self.system_prompt = f"{DATA_RULE}\n\n{template}\n\n{_answer_instructions(self.config)}"
        self.schema = {
            "type": "object",
            "additionalProperties": False,
            "required": ["reasoning", "answer"],
            "properties": {"reasoning": {"type": "string"}, "answer": _answer_schema(self.config)},
        }
        op = _SCORE_PASS.match(self.config.pass_when) if out.type == "score" else None
        self._output = Output(
            labels=("true", "false") if out.type == "boolean" else tuple(out.categories),
            score=(0, 1) if out.type == "boolean" else (out.min, out.max) if out.type == "score" else None,
            direction=("higher" if op.group(1).startswith(">") else "lower") if op else None,
            passing=self.config.pass_when,
        )

    @property
    def output(self) -> Output:
        return self._output

    @classmethod
    def check_config(cls, config: EvaluatorConfig, path: str) -> None:
        known = VARIABLES.get(config.level)
        if known is None:
            raise ConfigError(f"{path}.level: {config.level!r} is not one of {', '.join(VARIABLES)}")
        used = _VARIABLE.findall(config.prompt)
        if not used:
            raise ConfigError(
                f"{path}.prompt: a custom judge's prompt must use {' or '.join('{{' + v + '}}' for v in known)}"
            )
        for variable in used:
            if variable not in known:
                raise ConfigError(
                    f"{path}.prompt: unknown variable {{{{{variable}}}}} for level {config.level}; "
                    f"known: {', '.join('{{' + v + '}}' for v in known)}"
                )
        _check_output(config, path)
        _check_pass(config, path)

    def user_message(self, subject: Any) -> str:
        material = {
            "transcript": lambda: subject.render(),
            "input": lambda: _or_absent(subject.input),
            "output": lambda: _or_absent(subject.output),
            "trace": lambda: _trace_text(subject),
        }
        used = dict.fromkeys(_VARIABLE.findall(self.config.prompt))
        return "\n\n".join([f"Evaluate this {self.level}."] + [data_block(v, material[v]()) for v in used])

    def _conforms(self, data: dict[str, Any]) -> None:
        super()._conforms(data)
        out, answer = self.config.output, data["answer"]
        # Strict structured output has no numeric bounds to enforce, so the range is checked here.
        if out.type == "score" and not out.min <= answer <= out.max:
            raise ValueError(f"answer: {answer} is outside {out.min:g} to {out.max:g}")

    def verdict(self, data: dict[str, Any], subject: Any) -> EvaluationResult:
        out, answer, criterion = self.config.output, data["answer"], self.config.pass_when
        passed: bool | None = None
        if out.type == "boolean":
            passed = None if not criterion else answer == (criterion == "true")
            return self._result("true" if answer else "false", data["reasoning"], passed=passed, score=float(answer))
        if out.type == "score":
            op = _SCORE_PASS.match(criterion)
            if op:
                passed = _compare(float(answer), op.group(1), float(op.group(2)))
            return self._result(None, data["reasoning"], passed=passed, score=float(answer))
        if out.type == "categories":
            if criterion:
                passed = answer in _names(criterion)
            return self._result(answer, data["reasoning"], passed=passed)
        if criterion:
            passed = answer.get(criterion) is True
        return self._result(
            None, data["reasoning"], passed=passed, score=None, **{ATTR_ANSWER: json.dumps(answer, ensure_ascii=False)}
        )


class CustomSessionJudge(CustomJudge, SessionEvaluator):
    pass


class CustomSpanJudge(CustomJudge, SpanEvaluator):
    pass


class CustomTraceJudge(CustomJudge, TraceEvaluator):
    pass


CUSTOM_JUDGES: dict[str, type[CustomJudge]] = {
    "session": CustomSessionJudge,
    "span": CustomSpanJudge,
    "trace": CustomTraceJudge,
}


def _answer_schema(config: EvaluatorConfig) -> dict[str, Any]:
    out = config.output
    if out.type == "boolean":
        return {"type": "boolean"}
    if out.type == "score":
        return {"type": "number"}
    if out.type == "categories":
        return {"type": "string", "enum": list(out.categories)}
    return out.schema


def _answer_instructions(config: EvaluatorConfig) -> str:
    out = config.output
    first = "Give your reasoning first, then your answer"
    if out.type == "boolean":
        return f"{first}: true or false."
    if out.type == "score":
        return f"{first}: a number from {out.min:g} to {out.max:g}."
    if out.type == "categories":
        listed = "\n".join(f"- {name}: {text}" for name, text in out.categories.items())
        return f"{first}: exactly one of these categories.\n{listed}"
    return f"{first}: an object matching the answer's JSON schema."


def _check_output(config: EvaluatorConfig, path: str) -> None:
    out = config.output
    if out.type not in OUTPUT_TYPES:
        raise ConfigError(f"{path}.output.type: {out.type!r} is not one of {', '.join(OUTPUT_TYPES)}")
    if out.type == "score" and not out.min < out.max:
        raise ConfigError(f"{path}.output.max: must be greater than output.min ({out.min:g})")
    if out.type == "categories" and len(out.categories) < 2:
        raise ConfigError(f"{path}.output.categories: give at least two categories, each with a description")
    if out.type == "json":
        if out.schema.get("type") != "object":
            raise ConfigError(f"{path}.output.schema: must be the JSON schema of an object (type: object)")
        try:
            Draft202012Validator.check_schema(out.schema)
        except SchemaError as exc:
            raise ConfigError(f"{path}.output.schema: not a valid JSON schema: {exc.message}") from None


def _check_pass(config: EvaluatorConfig, path: str) -> None:
    out, criterion, key = config.output, config.pass_when, f"{path}.pass_when"
    if not criterion:
        return
    if out.type == "boolean" and criterion not in ("true", "false"):
        raise ConfigError(f'{key}: for a boolean output, "true" or "false" (the answer that passes)')
    if out.type == "score" and not _SCORE_PASS.match(criterion):
        raise ConfigError(f'{key}: for a score output, a comparison such as ">= 4" (>=, >, <= or <)')
    if out.type == "categories":
        unknown = [name for name in _names(criterion) if name not in out.categories]
        if unknown:
            raise ConfigError(f"{key}: {', '.join(unknown)} not among output.categories ({', '.join(out.categories)})")
    if out.type == "json":
        prop = out.schema.get("properties", {}).get(criterion)
        if not isinstance(prop, dict) or prop.get("type") != "boolean":
            raise ConfigError(f"{key}: for a json output, the name of a boolean property of output.schema")


def _names(criterion: str) -> list[str]:
    return [name.strip() for name in criterion.split(",") if name.strip()]


def _compare(value: float, op: str, bound: float) -> bool:
    return {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}[op]


def _version(config: EvaluatorConfig) -> str:
    # A changed prompt or output is a different judge: results carry which one produced them.
    spec = json.dumps(
        [
            config.level,
            config.prompt,
            config.output.type,
            config.output.min,
            config.output.max,
            config.output.categories,
            config.output.schema,
            config.pass_when,
        ],
        sort_keys=True,
    )
    return "custom-" + hashlib.sha256(spec.encode()).hexdigest()[:12]


def _or_absent(text: str | None) -> str:
    return text if text is not None else "(not recorded)"


def _trace_text(trace: TraceView) -> str:
    return "\n\n".join(_span_text(span) for span in trace.spans if span.input is not None or span.output is not None)


def _span_text(span: SpanView) -> str:
    lines = [f"[{span.kind} {span.name}]"]
    if span.input is not None:
        lines.append(f"input: {span.input}")
    if span.output is not None:
        lines.append(f"output: {span.output}")
    lines += [f"called {call['name']}({json.dumps(call['arguments'], ensure_ascii=False)})" for call in span.tool_calls]
    return "\n".join(lines)
