"""Built-in evaluators, by the name configuration uses for them."""
from __future__ import annotations

from collector_eval.evaluators.base import Evaluator
from collector_eval.evaluators.goal_completeness import GoalCompleteness

REGISTRY: dict[str, type] = {"goal_completeness": GoalCompleteness}


def build_evaluators(names: list[str]) -> list[Evaluator]:
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown evaluator(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    return [REGISTRY[name]() for name in names]
