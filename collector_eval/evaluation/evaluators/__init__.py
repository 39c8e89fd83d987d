"""Built-in evaluators by the name configuration uses for them, custom judges, and their options.

`build_evaluators(cfg.evaluators)` gives one evaluator per enabled entry, of every level; whoever runs
them dispatches on `evaluator.level` (see base.py for what each level's `selects` and `evaluate` take).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from collector_eval.config.checks import ConfigError
from collector_eval.evaluation.evaluators.base import Evaluator
from collector_eval.evaluation.evaluators.coherence import Coherence
from collector_eval.evaluation.evaluators.custom_judge import CUSTOM_JUDGES
from collector_eval.evaluation.evaluators.failure_to_answer import FailureToAnswer
from collector_eval.evaluation.evaluators.goal_completeness import GoalCompleteness
from collector_eval.evaluation.evaluators.options import (
    EvaluatorConfig,
    EvaluatorFiltersConfig,
)
from collector_eval.evaluation.evaluators.prompt_injection import PromptInjection
from collector_eval.evaluation.evaluators.sentiment import Sentiment
from collector_eval.evaluation.evaluators.session_correctness import SessionCorrectness
from collector_eval.evaluation.evaluators.tool_argument_correctness import (
    ToolArgumentCorrectness,
)
from collector_eval.evaluation.evaluators.tool_selection import ToolSelection
from collector_eval.evaluation.evaluators.topic_relevancy import TopicRelevancy
from collector_eval.evaluation.evaluators.toxicity import Toxicity
from collector_eval.evaluation.evaluators.trajectory import Trajectory
from collector_eval.evaluation.evaluators.user_frustration import UserFrustration

REGISTRY: dict[str, type[Evaluator]] = {
    cls.name: cls
    for cls in (
        GoalCompleteness,
        UserFrustration,
        SessionCorrectness,
        Coherence,
        FailureToAnswer,
        PromptInjection,
        Sentiment,
        TopicRelevancy,
        Toxicity,
        ToolSelection,
        ToolArgumentCorrectness,
        Trajectory,
    )
}
CUSTOM_JUDGE = "custom_judge"

# Keys every entry may set; the others belong to the evaluators that list them in `options`.
_COMMON = {"name", "type", "enabled", "sample_rate", "filters"}


def evaluator_class(config: EvaluatorConfig) -> type[Evaluator]:
    kind = config.type or config.name
    return CUSTOM_JUDGES[config.level] if kind == CUSTOM_JUDGE else REGISTRY[kind]


def check_config(config: EvaluatorConfig, path: str) -> None:
    """Validates one evaluators entry beyond its types; raises ConfigError naming the dotted key."""
    kind = config.type or config.name
    known = f"known: {', '.join(REGISTRY)}, or type: {CUSTOM_JUDGE} for a judge of your own"
    if kind == CUSTOM_JUDGE:
        if config.name in REGISTRY or config.name == CUSTOM_JUDGE:
            raise ConfigError(f"{path}.name: {config.name!r} is a built-in's name; give the custom judge its own")
        if config.level not in CUSTOM_JUDGES:
            raise ConfigError(f"{path}.level: {config.level!r} is not one of {', '.join(CUSTOM_JUDGES)}")
    elif kind not in REGISTRY:
        where = f"{path}.type" if config.type else path
        raise ConfigError(f"{where}: unknown evaluator {kind!r}; {known}")
    cls = evaluator_class(config)
    defaults = EvaluatorConfig()
    for f in dataclasses.fields(EvaluatorConfig):
        if f.name not in _COMMON and f.name not in cls.options and getattr(config, f.name) != getattr(defaults, f.name):
            takes = f"its options: {', '.join(cls.options)}" if cls.options else "it takes none"
            raise ConfigError(f"{path}.{f.name}: not an option of {kind} ({takes})")
    if cls.level == "session" and config.filters != EvaluatorFiltersConfig():
        raise ConfigError(f"{path}.filters: {kind} judges whole sessions; filters are for span and trace levels")
    cls.check_config(config, path)


def build_evaluators(entries: Iterable[EvaluatorConfig | str]) -> list[Evaluator]:
    """One evaluator per enabled entry, in the configured order; a bare string is a built-in's name."""
    evaluators = []
    for i, entry in enumerate(entries):
        config = EvaluatorConfig(name=entry) if isinstance(entry, str) else entry
        config.validate(f"evaluators[{i}]")
        check_config(config, f"evaluators[{i}]")
        if config.enabled:
            evaluators.append(evaluator_class(config)(config))
    return evaluators
