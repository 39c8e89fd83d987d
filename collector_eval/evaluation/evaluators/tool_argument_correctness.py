"""Tool argument correctness: are a call's arguments valid for its tool, and the right values?

Validity is checked against the tool's JSON schema without the judge: a wrong type, a missing required
field, a field the schema does not define. Only calls that pass go to the judge, which decides
whether the values are the ones the request called for.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from collector_eval.evaluation.evaluators.base import Output, SpanEvaluator
from collector_eval.evaluation.evaluators.prompting import (
    DATA_RULE,
    calls_text,
    data_block,
    per_call_schema,
    request_text,
    tools_text,
)
from collector_eval.evaluation.transcript.spans import SpanView, ToolDefinition
from collector_eval.model import EvaluationResult

ATTR_ERRORS = "gen_ai.evaluation.tool_argument_correctness.errors"

SYSTEM_PROMPT = f"""\
You evaluate whether the argument values of an AI model's tool calls are right for the request.

{DATA_RULE}

<request> holds the conversation the model was working on, from the user's last message on; <tools> \
the tools offered with their argument schemas; <tool_calls> the calls made, numbered. The arguments \
already match the schemas: judge their values. For each call, give the evidence (where in the request \
each value comes from, or what it should have been) and decide whether the values are correct: taken \
from the request or earlier results, not invented, not mixed up between fields, in the units and \
formats the tool expects. Then explain in one or two sentences."""

SCHEMA = per_call_schema("correct")


def argument_errors(call: dict[str, Any], tool: ToolDefinition | None) -> list[str]:
    """What is wrong with a call's arguments by its tool's schema; empty when nothing is."""
    name, arguments = call["name"], call["arguments"]
    if tool is None:
        return [f"{name}: not among the tools offered"]
    if not isinstance(arguments, dict):
        return [f"{name}: arguments are not a JSON object: {json.dumps(arguments, ensure_ascii=False)[:200]}"]
    schema = tool.parameters
    if schema is None:
        return []  # nothing recorded to check against: the judge still sees the values
    try:
        validator = Draft202012Validator(schema)
        validator.check_schema(schema)
    except SchemaError as exc:
        return [f"{name}: the tool's own schema is invalid ({exc.message}), so its arguments cannot be checked"]
    errors = [
        f"{name}: {'/'.join(map(str, e.absolute_path)) or 'arguments'}: {e.message}"
        for e in sorted(validator.iter_errors(arguments), key=lambda e: list(map(str, e.absolute_path)))
    ]
    # JSON Schema allows undeclared fields when additionalProperties is left out, but a tool given one
    # ignores it at best: unless the schema allows extra fields in so many words, one is an error.
    declared = schema.get("properties")
    if isinstance(declared, dict) and "additionalProperties" not in schema:
        errors += [f"{name}: {field}: not a field of {name}" for field in arguments if field not in declared]
    return errors


class ToolArgumentCorrectness(SpanEvaluator):
    name = "tool_argument_correctness"
    reads = "tool calls"
    details = (
        "Validity against the tool's JSON schema is checked without the judge (an unknown field fails unless "
        "the schema allows extra fields); only the calls that pass go to the judge, which decides whether the "
        "values are the ones the request called for. Only spans with tool calls are judged."
    )
    answers: ClassVar[str] = (
        "Are the tool calls' arguments valid for the tool's schema, and the right values for the request?"
    )
    without_judge: ClassVar[str] = "schema violations: wrong type, missing required field, unknown field, unknown tool"
    output = Output(labels=("correct", "incorrect"), passing="correct: valid by the schema and judged right")
    system_prompt = SYSTEM_PROMPT
    schema = SCHEMA

    def applicable(self, span: SpanView) -> bool:
        return bool(span.tool_calls)

    def gate(self, span: SpanView) -> EvaluationResult | None:
        if not span.tools:
            return EvaluationResult.skipped(self.name, "no_tool_definitions", "the span records no tool definitions")
        tools = {tool.name: tool for tool in span.tools}
        errors = [error for call in span.tool_calls for error in argument_errors(call, tools.get(call["name"]))]
        if errors:
            return self._result(
                "incorrect",
                "; ".join(errors),
                passed=False,
                score=None,
                **{ATTR_ERRORS: json.dumps(errors, ensure_ascii=False)},
            )
        return None

    def user_message(self, span: SpanView) -> str:
        called = {call["name"] for call in span.tool_calls}
        return "\n\n".join(
            [
                "Evaluate the argument values of these tool calls.",
                data_block("request", request_text(span.context)),
                data_block("tools", tools_text(t for t in span.tools if t.name in called)),
                data_block("tool_calls", calls_text(span.tool_calls)),
            ]
        )

    def verdict(self, data: dict, span: SpanView) -> EvaluationResult:
        wrong = [c["call"] for c in data["calls"] if not c["correct"]]
        return self._result("incorrect" if wrong else "correct", data["explanation"], passed=not wrong)
