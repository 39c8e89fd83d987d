"""Tool selection: given the request and the tools offered, did the model call the right tools?"""

from __future__ import annotations

import json
from typing import ClassVar

from collector_eval.evaluation.evaluators.base import Output, SpanEvaluator
from collector_eval.evaluation.evaluators.prompting import (
    DATA_RULE,
    calls_text,
    data_block,
    per_call_schema,
    request_text,
    tools_text,
)
from collector_eval.evaluation.transcript.spans import SpanView
from collector_eval.model import EvaluationResult

ATTR_WRONG = "gen_ai.evaluation.tool_selection.wrong_calls"

SYSTEM_PROMPT = f"""\
You evaluate whether an AI model chose the right tools for a request.

{DATA_RULE}

<request> holds the conversation the model was working on, from the user's last message on; <tools> \
the tools it was offered; <tool_calls> the calls it made, numbered. For each call, give the evidence \
(what in the request calls for that tool, or why another tool, or no tool, fitted better) and decide \
whether choosing that tool was appropriate. Judge the choice of tool only, not the argument values. \
Then explain in one or two sentences."""

SCHEMA = per_call_schema("appropriate")


class ToolSelection(SpanEvaluator):
    name = "tool_selection"
    reads = "tool calls"
    details = (
        "The tools offered are read from any of the three conventions (`llm.tools.*`, "
        "`gen_ai.tool.definitions`, `llm.request.functions.*`). Only spans with tool calls are judged."
    )
    answers: ClassVar[str] = (
        "Given the request and the tools offered (llm.tools.*, gen_ai.tool.definitions), were the right tools called?"
    )
    without_judge: ClassVar[str] = "a call to a tool that was not offered fails"
    output = Output(labels=("correct", "incorrect"), passing="correct: every call's tool fits the request")
    system_prompt = SYSTEM_PROMPT
    schema = SCHEMA

    def applicable(self, span: SpanView) -> bool:
        return bool(span.tool_calls)

    def gate(self, span: SpanView) -> EvaluationResult | None:
        if not span.tools:
            return EvaluationResult.skipped(self.name, "no_tool_definitions", "the span records no tool definitions")
        offered = {tool.name for tool in span.tools}
        unknown = [call["name"] for call in span.tool_calls if call["name"] not in offered]
        if unknown:
            return self._result(
                "incorrect",
                f"called {', '.join(unknown)}, not among the tools offered",
                passed=False,
                score=None,
                **{ATTR_WRONG: json.dumps(unknown, ensure_ascii=False)},
            )
        return None

    def user_message(self, span: SpanView) -> str:
        return "\n\n".join(
            [
                "Evaluate the model's choice of tools.",
                data_block("request", request_text(span.context)),
                data_block("tools", tools_text(span.tools)),
                data_block("tool_calls", calls_text(span.tool_calls)),
            ]
        )

    def verdict(self, data: dict, span: SpanView) -> EvaluationResult:
        wrong = [
            span.tool_calls[c["call"] - 1]["name"]
            for c in data["calls"]
            if not c["appropriate"] and 1 <= c["call"] <= len(span.tool_calls)
        ]
        return self._result(
            "incorrect" if wrong else "correct",
            data["explanation"],
            passed=not wrong,
            score=None,
            **{ATTR_WRONG: json.dumps(wrong, ensure_ascii=False)},
        )
