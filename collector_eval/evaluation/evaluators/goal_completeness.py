"""Goal completeness: did the assistant resolve what the user came for?

The judge lists the user's intentions and marks each resolved or not; the score is the resolved share,
and the session is "incomplete" when more than half are unresolved (Datadog's definition).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar

from collector_eval.evaluation.evaluators.base import Output, SessionEvaluator
from collector_eval.evaluation.evaluators.prompting import DATA_RULE
from collector_eval.model import EvaluationResult

if TYPE_CHECKING:
    from collector_eval.evaluation.transcript.model import Transcript

ATTR_RESOLVED = "gen_ai.evaluation.goal_completeness.resolved_intentions"
ATTR_UNRESOLVED = "gen_ai.evaluation.goal_completeness.unresolved_intentions"

SYSTEM_PROMPT = f"""\
You evaluate whether an AI assistant resolved its user's goals over a whole chat session, given between \
<transcript> and </transcript>.

{DATA_RULE}

1. List every distinct intention the user expressed: a request, a question, a task, including \
follow-ups that add or change goals. Merge restatements of the same intention.
2. For each intention give the evidence first (quote or closely paraphrase the turns that show the \
outcome, tool results included), then decide whether it was resolved by the end of the session. \
Resolved: the user got what they asked for (answered, done, or the user confirmed). Not resolved: \
left unanswered, refused, answered wrongly according to the conversation itself, abandoned, or only \
promised.
3. Give an overall explanation in one or two sentences.

If the user expressed no intention at all, return an empty list of intentions."""

# Strict structured output: every property required, no extras. Evidence precedes the verdict so the
# model writes its reasoning before committing to it (generation follows property order).
SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["intentions", "explanation"],
    "properties": {
        "intentions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["intention", "evidence", "resolved"],
                "properties": {
                    "intention": {"type": "string"},
                    "evidence": {"type": "string"},
                    "resolved": {"type": "boolean"},
                },
            },
        },
        "explanation": {"type": "string"},
    },
}


class GoalCompleteness(SessionEvaluator):
    name = "goal_completeness"
    details = (
        "The judge lists the user's intentions and marks each resolved or not; the score is the resolved "
        "share, and the session is `incomplete` when more than half are unresolved."
    )
    version = "1"
    answers: ClassVar[str] = "Did the assistant resolve what the user came for?"
    output = Output(
        labels=("complete", "incomplete"),
        score=(0, 1),
        direction="higher",
        passing="complete: at most half of the user's intentions unresolved",
    )
    system_prompt = SYSTEM_PROMPT
    schema = SCHEMA
    task: ClassVar[str] = "Evaluate the goal completeness of this session."

    def verdict(self, data: dict, transcript: Transcript) -> EvaluationResult:
        intentions = data["intentions"]
        if not intentions:
            return EvaluationResult.skipped(
                self.name, "no_intentions", data["explanation"] or "the judge found no user intention"
            )
        resolved = [item["intention"] for item in intentions if item["resolved"]]
        unresolved = [item["intention"] for item in intentions if not item["resolved"]]
        complete = 2 * len(unresolved) <= len(intentions)
        return self._result(
            "complete" if complete else "incomplete",
            data["explanation"],
            passed=complete,
            score=len(resolved) / len(intentions),
            **{
                ATTR_RESOLVED: json.dumps(resolved, ensure_ascii=False),
                ATTR_UNRESOLVED: json.dumps(unresolved, ensure_ascii=False),
            },
        )
