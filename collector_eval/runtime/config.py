"""The service's whole configuration: one section per stage, each section the stage's own options.

This is the one module that knows every stage, so it sits with the runtime that assembles them; the
stages themselves only ever see their own section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector_eval.config.checks import ConfigError, check_positive
from collector_eval.config.loader import build, read_yaml
from collector_eval.evaluation.evaluators import check_config
from collector_eval.evaluation.evaluators.options import EvaluatorConfig
from collector_eval.evaluation.judge.options import JudgeConfig
from collector_eval.evaluation.transcript.options import TranscriptConfig
from collector_eval.evaluation.transcript.redaction import DETECTORS
from collector_eval.export.forwarding.options import ForwardingConfig
from collector_eval.export.options import ExportersConfig
from collector_eval.ingest.options import ReceiverConfig
from collector_eval.runtime.options import ControlConfig, TelemetryConfig
from collector_eval.sessions.options import JobsConfig, SessionConfig
from collector_eval.store.options import RedisConfig


@dataclass
class Config:
    receiver: ReceiverConfig = field(default_factory=ReceiverConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    evaluators: list[EvaluatorConfig] = field(default_factory=lambda: [EvaluatorConfig(name="goal_completeness")])
    exporters: ExportersConfig = field(default_factory=ExportersConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    # Service processes sharing the receiver port (SO_REUSEPORT, which balances connections), all
    # working on the same Redis; one event loop per process is what lets the service use every core.
    processes: int = 1
    # Detectors whose matches are masked in the transcript before the judge sees it; empty: off.
    redaction: list[str] = field(default_factory=list)
    transcript: TranscriptConfig = field(default_factory=TranscriptConfig)
    forwarding: ForwardingConfig = field(default_factory=ForwardingConfig)

    def validate(self) -> Config:
        self.receiver.validate("receiver")
        self.redis.validate("redis")
        self.session.validate("session")
        self.session.end.validate("session.end")
        self.judge.validate("judge")
        self.exporters.validate("exporters")
        self.jobs.validate("jobs")
        self.telemetry.validate("telemetry")
        self.control.validate("control")
        check_positive(self.processes, "processes")
        self.transcript.validate("transcript")
        self.forwarding.validate("forwarding")
        for i, rule in enumerate(self.forwarding.keep):
            for name in rule.exporters:
                if name not in self.exporters.named:
                    known = ", ".join(self.exporters.named) or "none"
                    raise ConfigError(
                        f"forwarding.keep[{i}].exporters: {name!r} is not in exporters.named (named: {known})"
                    )
        names: dict[str, int] = {}
        for i, evaluator in enumerate(self.evaluators):
            evaluator.validate(f"evaluators[{i}]")
            check_config(evaluator, f"evaluators[{i}]")
            if evaluator.name in names:
                # Results are told apart by name.
                raise ConfigError(
                    f"evaluators[{i}].name: {evaluator.name!r} is also evaluators[{names[evaluator.name]}]'s; "
                    "give one another name (and `type:` the built-in it runs)"
                )
            names[evaluator.name] = i
        for i, name in enumerate(self.redaction):
            if name not in DETECTORS:
                raise ConfigError(f"redaction[{i}]: unknown detector {name!r}; known: {', '.join(DETECTORS)}")
        return self


def load_config(path: str | Path | None) -> Config:
    """Read and validate a YAML config file; None gives the defaults."""
    if path is None:
        return Config().validate()
    return config_from_dict(read_yaml(path))


def config_from_dict(data: Any) -> Config:
    return build(Config, data, "").validate()
