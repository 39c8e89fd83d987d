"""Trajectory: did the agent's steps in a trace go to the goal, without loops, in order, none skipped?

Loops (the same tool called with the same arguments again and again) are counted without the judge;
the order of the steps and steps left out need it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from collector_eval.config.checks import ConfigError
from collector_eval.evaluation.evaluators.base import Output, TraceEvaluator
from collector_eval.evaluation.evaluators.options import EvaluatorConfig
from collector_eval.evaluation.evaluators.prompting import DATA_RULE, data_block
from collector_eval.evaluation.transcript.messages import parse_arguments
from collector_eval.evaluation.transcript.spans import TraceView
from collector_eval.model import EvaluationResult

ATTR_LOOPS = "gen_ai.evaluation.trajectory.repeated_calls"
ATTR_SKIPPED = "gen_ai.evaluation.trajectory.skipped_steps"
RESULT_CHARS = 500  # of each tool result shown to the judge: enough to follow the thread

SYSTEM_PROMPT = f"""\
You evaluate the trajectory of an AI agent: the sequence of tool calls it made to handle one request.

{DATA_RULE}

<request> holds what the agent was asked; <trace> its steps in order, each a tool call with its \
arguments and (shortened) result, and finally the agent's answer. Decide:
- wrong_order: a step was taken before a step it depends on (using a value before fetching it, acting \
before checking what the request said to check first).
- skipped_steps: steps the request needed that the agent never took (list each one; empty when none).
Give the evidence first, then your findings, then a one- or two-sentence explanation. Judge the \
trajectory only, not the wording of the answer."""

SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["evidence", "wrong_order", "skipped_steps", "explanation"],
    "properties": {
        "evidence": {"type": "string"},
        "wrong_order": {"type": "boolean"},
        "skipped_steps": {"type": "array", "items": {"type": "string"}},
        "explanation": {"type": "string"},
    },
}


@dataclass(frozen=True)
class Step:
    tool: str
    arguments: Any
    result: str | None

    @property
    def key(self) -> str:
        return f"{self.tool}({json.dumps(self.arguments, sort_keys=True, ensure_ascii=False)})"


def steps(trace: TraceView) -> list[Step]:
    """The tool calls of a trace in order: its tool-execution spans, or, when it has none, the calls
    its LLM spans asked for (an application that records no tool spans)."""
    executed = [Step(s.tool_name, parse_arguments(s.input), s.output) for s in trace.spans if s.tool_name]
    if executed:
        return executed
    return [Step(c["name"], c["arguments"], None) for s in trace.spans for c in s.tool_calls]


class Trajectory(TraceEvaluator):
    name = "trajectory"
    details = "Loops are counted without the judge; the order of the steps and steps left out need it."
    answers: ClassVar[str] = "Did the agent's tool calls reach the goal without loops, wrong order or skipped steps?"
    without_judge: ClassVar[str] = "loops: the same tool with the same arguments more than max_repeated_calls times"
    options: ClassVar[tuple[str, ...]] = ("max_repeated_calls",)
    output = Output(labels=("ok", "loop", "wrong_order", "skipped_steps"), passing="ok")
    system_prompt = SYSTEM_PROMPT
    schema = SCHEMA

    @classmethod
    def check_config(cls, config: EvaluatorConfig, path: str) -> None:
        if config.max_repeated_calls < 1:
            raise ConfigError(f"{path}.max_repeated_calls: must be at least 1, got {config.max_repeated_calls}")

    def applicable(self, trace: TraceView) -> bool:
        return bool(steps(trace))

    def gate(self, trace: TraceView) -> EvaluationResult | None:
        counts = Counter(step.key for step in steps(trace))
        loops = {key: n for key, n in counts.items() if n > self.config.max_repeated_calls}
        if not loops:
            return None
        described = ", ".join(f"{key} {n} times" for key, n in loops.items())
        return self._result(
            "loop",
            f"repeated calls: {described}",
            passed=False,
            score=None,
            **{ATTR_LOOPS: json.dumps(loops, ensure_ascii=False)},
        )

    def user_message(self, trace: TraceView) -> str:
        lines = []
        for i, step in enumerate(steps(trace), 1):
            result = "(not recorded)" if step.result is None else step.result[:RESULT_CHARS]
            lines.append(f"{i}. {step.key} -> {result}")
        answer = next((s.output for s in reversed(trace.spans) if s.kind == "LLM" and s.output), None)
        lines.append(f"answer: {answer if answer is not None else '(not recorded)'}")
        return "\n\n".join(
            ["Evaluate this trajectory.", data_block("request", _request(trace)), data_block("trace", "\n".join(lines))]
        )

    def verdict(self, data: dict, trace: TraceView) -> EvaluationResult:
        skipped = data["skipped_steps"]
        label = "wrong_order" if data["wrong_order"] else "skipped_steps" if skipped else "ok"
        return self._result(
            label,
            data["explanation"],
            passed=label == "ok",
            score=None,
            **{ATTR_SKIPPED: json.dumps(skipped, ensure_ascii=False)},
        )


def _request(trace: TraceView) -> str:
    # The first LLM call's new input is the request that started the trace; a root span's input
    # (an agent's or workflow's) says the same where no LLM input was recorded.
    first = next((s.input for s in trace.spans if s.kind == "LLM" and s.input), None)
    return first or trace.root.input or "(not recorded)"
