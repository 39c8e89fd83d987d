"""Options of forwarding (forwarding.*): whether spans go downstream as they arrive, or are held
until their session's verdict decides whether they are kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from collector_eval.config.checks import ConfigError, check_positive
from collector_eval.model import ResultStatus


class ForwardingMode(StrEnum):
    IMMEDIATE = "immediate"  # every span forwarded on arrival
    ON_VERDICT = "on_verdict"  # a session's spans held until its verdict, then kept or dropped


class WithoutSession(StrEnum):
    """on_verdict: what becomes of a trace that never joined a session, once its orphan TTL passed."""

    FORWARD = "forward"
    DROP = "drop"


@dataclass
class KeepWhen:
    """What a rule matches; every condition given must hold, none given matches every session."""

    # true: some result failed its pass criterion or errored; false: none did.
    failed: bool | None = None
    # Only results of this evaluator count for the conditions below (and for failed).
    evaluator: str = ""
    # Some (counted) result has this label.
    label: str = ""
    # Some (counted) result has this status: ok, error or skipped.
    status: str = ""

    def validate(self, path: str) -> None:
        if self.status and self.status not in ResultStatus.__members__.values():
            raise ConfigError(f"{path}.status: {self.status!r} is not one of ok, error, skipped")


@dataclass
class KeepRule:
    when: KeepWhen = field(default_factory=KeepWhen)
    # The share of matching sessions kept, drawn from the session id (the same on every replica).
    sample_rate: float = 1.0
    # Named exporters (exporters.named) the kept sessions go to; empty: the default exporters.
    exporters: list[str] = field(default_factory=list)

    def validate(self, path: str) -> None:
        self.when.validate(f"{path}.when")
        if not 0 <= self.sample_rate <= 1:
            raise ConfigError(f"{path}.sample_rate: {self.sample_rate} is not between 0 and 1")


@dataclass
class ForwardingConfig:
    mode: str = ForwardingMode.IMMEDIATE.value
    # on_verdict: the rules in order; the first that matches a verdict decides. A session no rule
    # matches is dropped.
    keep: list[KeepRule] = field(default_factory=lambda: [KeepRule(KeepWhen(failed=True))])
    without_session: str = WithoutSession.FORWARD.value
    # on_verdict: a session with no verdict this long after its first span is forwarded whole.
    hold_max_s: float = 3600

    @property
    def holds(self) -> bool:
        return self.mode == ForwardingMode.ON_VERDICT

    def validate(self, path: str) -> None:
        if self.mode not in ForwardingMode.__members__.values():
            raise ConfigError(f"{path}.mode: {self.mode!r} is not one of immediate, on_verdict")
        if self.without_session not in WithoutSession.__members__.values():
            raise ConfigError(f"{path}.without_session: {self.without_session!r} is not one of forward, drop")
        check_positive(self.hold_max_s, f"{path}.hold_max_s")
        for i, rule in enumerate(self.keep):
            rule.validate(f"{path}.keep[{i}]")
