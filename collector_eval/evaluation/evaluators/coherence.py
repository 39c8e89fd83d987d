"""Coherence: did the assistant stay consistent with itself and with the conversation?"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from collector_eval.evaluation.evaluators.base import Output, SessionEvaluator
from collector_eval.evaluation.evaluators.prompting import DATA_RULE
from collector_eval.model import EvaluationResult

if TYPE_CHECKING:
    from collector_eval.evaluation.transcript.model import Transcript

LABELS = ("consistent", "mixed", "inconsistent")

SYSTEM_PROMPT = f"""\
You evaluate the coherence of an AI assistant over a whole chat session: whether it stays consistent \
with itself and with the conversation.

{DATA_RULE}

1. Find each lapse: the assistant contradicting something it said earlier, contradicting facts \
established in the conversation (tool results, what the user said), forgetting context the user gave, \
or answering in a way that does not follow from the exchange. For each, give the evidence (quote both \
sides) and the issue.
2. Choose one label:
- consistent: no lapse.
- mixed: minor lapses that did not mislead the user or derail the conversation.
- inconsistent: contradictions or lost context that matter to the user.
3. Explain your label in one or two sentences."""

SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["lapses", "label", "explanation"],
    "properties": {
        "lapses": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["evidence", "issue"],
                "properties": {"evidence": {"type": "string"}, "issue": {"type": "string"}},
            },
        },
        "label": {"type": "string", "enum": list(LABELS)},
        "explanation": {"type": "string"},
    },
}


class Coherence(SessionEvaluator):
    name = "coherence"
    details = "Inconsistent means contradictions, or context lost along the way."
    answers: ClassVar[str] = "Did the assistant stay consistent with itself and with the conversation?"
    output = Output(labels=LABELS, passing="consistent or mixed")
    system_prompt = SYSTEM_PROMPT
    schema = SCHEMA
    task: ClassVar[str] = "Evaluate the coherence of the assistant in this session."

    def verdict(self, data: dict, transcript: Transcript) -> EvaluationResult:
        return self._result(data["label"], data["explanation"], passed=data["label"] != "inconsistent")
