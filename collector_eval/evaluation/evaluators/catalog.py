"""The built-ins described for people and machines: what `collector-eval evaluators` prints."""

from __future__ import annotations

import json
import sys
from typing import Any

from collector_eval.evaluation.evaluators import REGISTRY
from collector_eval.evaluation.evaluators.base import Evaluator
from collector_eval.evaluation.evaluators.options import EvaluatorConfig

COLUMNS = ("name", "level", "judge", "output", "pass")


def describe(cls: type[Evaluator]) -> dict[str, Any]:
    evaluator = cls()  # the defaults, as a config entry with only the name gets them
    output = evaluator.output
    score = output.score
    return {
        "name": cls.name,
        "level": cls.level,
        "answers": cls.answers,
        "needs_judge": cls.needs_judge,
        "without_judge": cls.without_judge,
        "labels": list(output.labels),
        "score": None if score is None else {"min": score[0], "max": score[1], "direction": output.direction},
        "pass": output.passing,
        "options": list(cls.options),
        "version": cls.version,
    }


def catalog() -> list[dict[str, Any]]:
    return [describe(cls) for cls in REGISTRY.values()]


def table(rows: list[dict[str, Any]]) -> str:
    """One line per evaluator; 'partly' in the judge column: some cases are decided without it."""
    cells = [COLUMNS] + [
        (
            row["name"],
            row["level"],
            ("partly" if row["without_judge"] else "yes") if row["needs_judge"] else "no",
            _output(row),
            row["pass"],
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1] for line in cells
    )


def _output(row: dict[str, Any]) -> str:
    parts = []
    if row["labels"]:
        parts.append(" | ".join(row["labels"]))
    if row["score"] is not None:
        score = row["score"]
        parts.append(f"score {score['min']:g}-{score['max']:g}, {score['direction']} is better")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------- docs/evaluators.md

REGENERATE = "python -m collector_eval.evaluation.evaluators.catalog > docs/evaluators.md"

# What a span-level evaluator reads of its span, and what the one-line fields above leave out. Facts for
# people only; when an evaluator changes, change its line here and regenerate the page.
_READS = {
    "failure_to_answer": "output",
    "prompt_injection": "input",
    "sentiment": "input and output",
    "topic_relevancy": "input",
    "toxicity": "input and output",
    "tool_selection": "tool calls",
    "tool_argument_correctness": "tool calls",
}
_NOTES = {
    "goal_completeness": "The judge lists the user's intentions and marks each resolved or not; the score is the "
    "resolved share, and the session is `incomplete` when more than half are unresolved.",
    "user_frustration": "The skip reason of a session without a user message: `no_user_messages`.",
    "session_correctness": "Each substantive answer gets `correct`, `inaccurate` or `irrelevant`; the score is the "
    "correct share, and `partially_correct` means at most half of the answers are wrong.",
    "coherence": "Inconsistent means contradictions, or context lost along the way.",
    "prompt_injection": "The input is what the model was newly given: the user's message, and tool results, where "
    "indirect injections (a web page, a document, an email) arrive.",
    "sentiment": "The pass criterion is on the user's input; the response's sentiment is kept beside it as an "
    "attribute.",
    "topic_relevancy": "`topics` is required.",
    "toxicity": "The categories: discriminatory content, harassment, hate, illicit, self harm, sexual, violence, "
    "profanity, and user dissatisfaction (of the input only: a response cannot be dissatisfied with itself). "
    "`flag_categories` defaults to all but profanity and user dissatisfaction.",
    "tool_selection": "The tools offered are read from any of the three conventions (`llm.tools.*`, "
    "`gen_ai.tool.definitions`, `llm.request.functions.*`). Only spans with tool calls are judged.",
    "tool_argument_correctness": "Validity against the tool's JSON schema is checked without the judge (an unknown "
    "field fails unless the schema allows extra fields); only the calls that pass go to the judge, which decides "
    "whether the values are the ones the request called for. Only spans with tool calls are judged.",
    "trajectory": "Loops are counted without the judge; the order of the steps and steps left out need it.",
}


def markdown() -> str:
    """docs/evaluators.md: the catalog as a page, regenerated with REGENERATE (a test checks it is current)."""
    rows = catalog()
    lines = [
        f"<!-- Generated from the evaluator catalog (collector_eval/evaluation/evaluators/catalog.py): do not edit;"
        f" regenerate with `{REGENERATE}`. -->",
        "",
        "# Evaluators",
        "",
        "Every built-in evaluator declares its level (it judges a whole session, one trace or one span), whether",
        "it needs the judge, its output (labels and/or a score range, and which way is better), its pass criterion",
        "and its version. This page is made from those declarations, as `collector-eval evaluators` prints them",
        "(`--json` for machines). The judge column says `partly` where some cases are decided without the judge.",
        "",
        "Choosing and configuring evaluators (`evaluators`, `sample_rate`, `filters`, the options below):",
        "[configuration.md](configuration.md#evaluators). Judges of your own (`type: custom_judge`), what a span",
        "evaluator is given and when the judge is asked: [judge.md](judge.md). Where results land:",
        "[output.md](output.md).",
        "",
        "| name | level | judge | labels or score | pass criterion | version |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = (
            f"[`{row['name']}`](#{row['name']})",
            _level(row),
            ("partly" if row["without_judge"] else "yes") if row["needs_judge"] else "no",
            _md_output(row),
            row["pass"],
            row["version"],
        )
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    defaults = EvaluatorConfig()
    for row in rows:
        cls = REGISTRY[row["name"]]
        lines += ["", f"## `{row['name']}`", "", row["answers"]]
        if row["name"] in _NOTES:
            lines += ["", _NOTES[row["name"]]]
        lines += ["", f"- level: {_level(row)}"]
        kinds = getattr(cls, "span_kinds", None)
        if row["level"] == "span" and kinds:
            lines.append(f"- span kinds judged unless `filters.span_kind` says otherwise: {_codes(kinds)}")
        if not row["needs_judge"]:
            lines.append("- judge: no")
        elif row["without_judge"]:
            lines.append(f"- judge: partly; decided without it: {row['without_judge']}")
        else:
            lines.append("- judge: yes")
        if row["labels"]:
            lines.append(f"- labels: {_codes(row['labels'])}")
        if row["score"] is not None:
            score = row["score"]
            lines.append(f"- score: {score['min']:g} to {score['max']:g}, {score['direction']} is better")
        lines.append(f"- passes when: {row['pass']}")
        for option in row["options"]:
            default = json.dumps(getattr(defaults, option))
            lines.append(f"- option `evaluators[].{option}`, default `{default}`")
        attributes = _attributes(cls, row["name"])
        if attributes:
            lines.append(f"- result attributes (JSON where structured): {_codes(attributes)}")
        lines.append(f"- version: {row['version']}")
    return "\n".join(lines) + "\n"


def _level(row: dict[str, Any]) -> str:
    reads = _READS.get(row["name"])
    return f"{row['level']} ({reads})" if reads else str(row["level"])


def _md_output(row: dict[str, Any]) -> str:
    parts = []
    if row["labels"]:
        parts.append(_codes(row["labels"]))
    if row["score"] is not None:
        score = row["score"]
        parts.append(f"score {score['min']:g} to {score['max']:g}, {score['direction']} is better")
    return "; ".join(parts)


def _codes(words: Any) -> str:
    return ", ".join(f"`{word}`" for word in words)


def _attributes(cls: type[Evaluator], name: str) -> list[str]:
    """The event attributes an evaluator adds beside label and score: its module's ATTR_ constants."""
    module = vars(sys.modules[cls.__module__])
    return [
        value
        for key, value in module.items()
        if key.startswith("ATTR_") and isinstance(value, str) and value.startswith(f"gen_ai.evaluation.{name}.")
    ]


if __name__ == "__main__":
    print(markdown(), end="")
