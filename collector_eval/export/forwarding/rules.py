"""The keep rules: a verdict in, a forwarding decision out."""

from __future__ import annotations

import hashlib

from collector_eval.export.forwarding.options import ForwardingConfig, KeepRule
from collector_eval.export.verdict import Verdict
from collector_eval.model import NO_RULE, EvaluationResult, Forwarding, ForwardingDecision, ResultStatus, SessionKey


def decide(cfg: ForwardingConfig, verdict: Verdict) -> ForwardingDecision:
    """The first rule that matches the verdict decides; a session none matches is dropped."""
    results = list(verdict.all_results())
    for index, rule in enumerate(cfg.keep):
        if matches(rule, results):
            if draw(verdict.session.key) < rule.sample_rate:
                return ForwardingDecision(Forwarding.KEPT, index, tuple(rule.exporters))
            return ForwardingDecision(Forwarding.DROPPED, index)
    return ForwardingDecision(Forwarding.DROPPED, NO_RULE)


def matches(rule: KeepRule, results: list[EvaluationResult]) -> bool:
    when = rule.when
    counted = [r for r in results if r.name == when.evaluator] if when.evaluator else results
    if when.evaluator and not counted:
        return False  # the evaluator did not run on this session: nothing of it can match
    if when.failed is not None and any(map(failed, counted)) != when.failed:
        return False
    if when.label and not any(r.status == ResultStatus.OK and r.label == when.label for r in counted):
        return False
    return not when.status or any(r.status == when.status for r in counted)


def failed(result: EvaluationResult) -> bool:
    """A result that failed its pass criterion, or whose judging errored."""
    return result.status == ResultStatus.ERROR or result.passed is False


def draw(session: SessionKey) -> float:
    """A number in [0, 1) fixed by the session: every replica, and every revision, draws the same, so
    a sample_rate keeps the same sessions wherever they are judged."""
    digest = hashlib.blake2b(f"{session.tenant}\0{session.session_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
