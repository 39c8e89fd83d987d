"""User frustration: how frustrated did the user get over the session, up to giving up?"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from collector_eval.evaluation.evaluators.base import Output, SessionEvaluator
from collector_eval.evaluation.evaluators.prompting import DATA_RULE
from collector_eval.model import EvaluationResult

if TYPE_CHECKING:
    from collector_eval.evaluation.transcript.model import Transcript

LABELS = ("none", "mild", "high", "abandoned")
PASSING = ("none", "mild")

SYSTEM_PROMPT = f"""\
You evaluate how frustrated the user of an AI assistant became over a whole chat session.

{DATA_RULE}

1. Find every sign of frustration in the user's own messages: repeating or rephrasing a request the \
assistant did not meet, complaints, sarcasm, insults, shouting (capitals, many exclamation marks), \
asking for a human, saying the assistant is useless, curt replies after failed answers. Quote each one \
and say what it signals. Judge the user only: the assistant's tone and the task's difficulty are not \
signals.
2. Choose one label for the session as a whole:
- none: no sign of frustration.
- mild: some impatience or annoyance, but the user carried on and the exchange stayed workable.
- high: clear, strong frustration: repeated complaints, hostility, or demands for a human.
- abandoned: the user gave up out of frustration ("forget it", "never mind, I'll do it myself") or \
stopped right after repeated failures, leaving their goal unmet.
3. Explain your label in one or two sentences."""

SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["signals", "label", "explanation"],
    "properties": {
        "signals": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["quote", "signal"],
                "properties": {"quote": {"type": "string"}, "signal": {"type": "string"}},
            },
        },
        "label": {"type": "string", "enum": list(LABELS)},
        "explanation": {"type": "string"},
    },
}


class UserFrustration(SessionEvaluator):
    name = "user_frustration"
    details = "The skip reason of a session without a user message: `no_user_messages`."
    answers: ClassVar[str] = "How frustrated did the user get, up to abandoning the conversation?"
    without_judge: ClassVar[str] = "sessions without a user message are skipped"
    output = Output(labels=LABELS, passing="none or mild")
    system_prompt = SYSTEM_PROMPT
    schema = SCHEMA
    task: ClassVar[str] = "Evaluate the user's frustration in this session."

    def gate(self, transcript: Transcript) -> EvaluationResult | None:
        settled = super().gate(transcript)
        if settled is None and not any(t.role == "user" and t.content.strip() for t in transcript.turns):
            return EvaluationResult.skipped(self.name, "no_user_messages", "the session has no user message to judge")
        return settled

    def verdict(self, data: dict, transcript: Transcript) -> EvaluationResult:
        return self._result(data["label"], data["explanation"], passed=data["label"] in PASSING)
