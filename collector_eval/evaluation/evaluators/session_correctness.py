"""Session correctness: were the assistant's answers factual, accurate and relevant throughout?"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar

from collector_eval.evaluation.evaluators.base import Output, SessionEvaluator
from collector_eval.evaluation.evaluators.prompting import DATA_RULE
from collector_eval.model import EvaluationResult

if TYPE_CHECKING:
    from collector_eval.evaluation.transcript.model import Transcript

ATTR_FAULTS = "gen_ai.evaluation.session_correctness.faulty_answers"
VERDICTS = ("correct", "inaccurate", "irrelevant")

SYSTEM_PROMPT = f"""\
You evaluate whether an AI assistant's answers were correct across a whole chat session.

{DATA_RULE}

1. List each substantive answer the assistant gave: a statement of fact, a result, a recommendation \
or an instruction. Skip greetings, questions back to the user and pure acknowledgements.
2. For each, give the evidence first (the tool results, the user's own information, or well-established \
knowledge that confirms or contradicts it), then a verdict:
- correct: factual and accurate, consistent with the tool results and what the user said, and relevant \
to what was asked.
- inaccurate: wrong, contradicted by a tool result or by the conversation, invented, or a \
miscalculation.
- irrelevant: accurate perhaps, but not an answer to what the user asked.
When you cannot tell, say so in the evidence and give the benefit of the doubt (correct).
3. Give an overall explanation in one or two sentences.

If the assistant gave no substantive answer, return an empty list."""

SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["answers", "explanation"],
    "properties": {
        "answers": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["answer", "evidence", "verdict"],
                "properties": {
                    "answer": {"type": "string"},
                    "evidence": {"type": "string"},
                    "verdict": {"type": "string", "enum": list(VERDICTS)},
                },
            },
        },
        "explanation": {"type": "string"},
    },
}


class SessionCorrectness(SessionEvaluator):
    name = "session_correctness"
    details = (
        "Each substantive answer gets `correct`, `inaccurate` or `irrelevant`; the score is the correct "
        "share, and `partially_correct` means at most half of the answers are wrong."
    )
    answers: ClassVar[str] = "Were the assistant's answers factual, accurate and relevant across the conversation?"
    output = Output(
        labels=("correct", "partially_correct", "incorrect"),
        score=(0, 1),
        direction="higher",
        passing="correct: every answer correct",
    )
    system_prompt = SYSTEM_PROMPT
    schema = SCHEMA
    task: ClassVar[str] = "Evaluate the correctness of the assistant's answers in this session."

    def verdict(self, data: dict, transcript: Transcript) -> EvaluationResult:
        answers = data["answers"]
        if not answers:
            return EvaluationResult.skipped(
                self.name, "no_answers", data["explanation"] or "the assistant gave no answer to judge"
            )
        faults = [{"answer": a["answer"], "verdict": a["verdict"]} for a in answers if a["verdict"] != "correct"]
        share = 1 - len(faults) / len(answers)
        label = "correct" if not faults else "incorrect" if 2 * len(faults) > len(answers) else "partially_correct"
        return self._result(
            label,
            data["explanation"],
            passed=not faults,
            score=share,
            **{ATTR_FAULTS: json.dumps(faults, ensure_ascii=False)},
        )
