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
        if cls.details:
            lines += ["", cls.details]
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
    reads = REGISTRY[row["name"]].reads
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
