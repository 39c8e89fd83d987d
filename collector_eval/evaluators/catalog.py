"""The built-ins described for people and machines: what `collector-eval evaluators` prints."""
from __future__ import annotations

from typing import Any

from collector_eval.evaluators import REGISTRY
from collector_eval.evaluators.base import Evaluator

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
