"""The keep rules: which rule decides, what each condition matches, the deterministic sample, and the
config errors that name the bad key."""

from __future__ import annotations

import pytest

from collector_eval.config.checks import ConfigError
from collector_eval.export.forwarding.options import ForwardingConfig, KeepRule, KeepWhen
from collector_eval.export.forwarding.rules import decide, draw
from collector_eval.export.verdict import SubjectResults, Verdict
from collector_eval.model import (
    EvaluationResult,
    Forwarding,
    ForwardingDecision,
    ResultStatus,
    SessionKey,
    StoredSession,
)
from collector_eval.runtime.config import config_from_dict


def verdict(*results: EvaluationResult, span_results: tuple[EvaluationResult, ...] = (), sid: str = "s1") -> Verdict:
    session = StoredSession(SessionKey("app", sid), b"\1" * 16, b"\2" * 8, "session.id")
    subjects = [SubjectResults("span", b"\1" * 16, b"\3" * 8, list(span_results))] if span_results else []
    return Verdict(session, list(results), "m", False, 0, 0, {}, subjects=subjects)


def ok(name: str, label: str, passed: bool | None) -> EvaluationResult:
    return EvaluationResult(name, ResultStatus.OK, label=label, passed=passed)


def rules(*keep: KeepRule) -> ForwardingConfig:
    return ForwardingConfig(mode="on_verdict", keep=list(keep))


FRUSTRATED = ok("user_frustration", "high", False)
FINE = ok("goal_completeness", "complete", True)


def test_the_default_rule_keeps_a_failed_or_errored_result_and_drops_the_rest():
    cfg = ForwardingConfig(mode="on_verdict")
    assert decide(cfg, verdict(FINE, FRUSTRATED)) == ForwardingDecision(Forwarding.KEPT, 0)
    errored = EvaluationResult.failed("goal_completeness", "judge_unavailable", "down")
    assert decide(cfg, verdict(errored)).kept
    skipped = EvaluationResult.skipped("goal_completeness", "no_content", "nothing to judge")
    assert decide(cfg, verdict(FINE, skipped)) == ForwardingDecision(Forwarding.DROPPED, -1)


def test_span_level_results_count_too():
    assert decide(ForwardingConfig(), verdict(FINE, span_results=(ok("toxicity", "toxic", False),))).kept


def test_the_first_matching_rule_decides_even_when_its_sample_drops_the_session():
    cfg = rules(
        KeepRule(KeepWhen(evaluator="user_frustration", label="high"), sample_rate=0.0),
        KeepRule(KeepWhen(failed=True), exporters=["review"]),
    )
    assert decide(cfg, verdict(FRUSTRATED)) == ForwardingDecision(Forwarding.DROPPED, 0)


def test_evaluator_label_status_and_failed_false_conditions():
    by_label = rules(KeepRule(KeepWhen(evaluator="user_frustration", label="high"), exporters=["review"]))
    assert decide(by_label, verdict(FRUSTRATED)) == ForwardingDecision(Forwarding.KEPT, 0, ("review",))
    # The label of another evaluator does not count, nor does an evaluator that did not run.
    assert not decide(by_label, verdict(ok("sentiment", "high", True))).kept
    assert not decide(rules(KeepRule(KeepWhen(evaluator="toxicity"))), verdict(FINE)).kept
    # failed: false keeps the sessions where nothing failed.
    clean = rules(KeepRule(KeepWhen(failed=False)))
    assert decide(clean, verdict(FINE)).kept and not decide(clean, verdict(FINE, FRUSTRATED)).kept
    skipped = rules(KeepRule(KeepWhen(status="skipped")))
    assert decide(skipped, verdict(EvaluationResult.skipped("x", "no_content", ""))).kept
    assert not decide(skipped, verdict(FINE)).kept


def test_a_sample_rate_keeps_its_share_and_every_replica_draws_alike():
    cfg = rules(KeepRule(sample_rate=0.25))
    kept = [decide(cfg, verdict(FINE, sid=f"session-{i}")).kept for i in range(4000)]
    assert 900 < sum(kept) < 1100
    # The draw is the session's own: the same session id, the same draw, whatever else differs.
    assert draw(SessionKey("app", "session-7")) == draw(SessionKey("app", "session-7"))
    assert [decide(cfg, verdict(FINE, sid=f"session-{i}")).kept for i in range(4000)] == kept


def test_a_decision_survives_its_encoding():
    for decision in (
        ForwardingDecision(Forwarding.KEPT, 2, ("review", "archive")),
        ForwardingDecision(Forwarding.DROPPED, -1),
    ):
        assert ForwardingDecision.parse(decision.encode().encode()) == decision


@pytest.mark.parametrize(
    ("forwarding", "exporters", "key"),
    [
        ({"mode": "sometimes"}, {}, "forwarding.mode"),
        ({"without_session": "keep"}, {}, "forwarding.without_session"),
        ({"hold_max_s": 0}, {}, "forwarding.hold_max_s"),
        ({"keep": [{"sample_rate": 1.5}]}, {}, "forwarding.keep[0].sample_rate"),
        ({"keep": [{"when": {"status": "failed"}}]}, {}, "forwarding.keep[0].when.status"),
        ({"keep": [{"when": {"failed": "yes"}}]}, {}, "forwarding.keep[0].when.failed"),
        ({"keep": [{"when": {"score": 1}}]}, {}, "forwarding.keep[0].when.score"),
        ({"keep": [{}, {"exporters": ["review"]}]}, {}, "forwarding.keep[1].exporters"),
        ({}, {"named": {"a,b": {"file": {"path": "x"}}}}, "exporters.named"),
        ({}, {"named": {"review": {}}}, "exporters.named.review"),
    ],
)
def test_bad_forwarding_config_names_the_key(forwarding, exporters, key):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"forwarding": forwarding, "exporters": exporters})
    assert str(info.value).startswith(key)


def test_a_rule_may_name_a_configured_exporter():
    cfg = config_from_dict(
        {
            "exporters": {"named": {"review": {"otlp_http": {"endpoint": "http://127.0.0.1:9/v1/traces"}}}},
            "forwarding": {"mode": "on_verdict", "keep": [{"when": {"failed": True}, "exporters": ["review"]}]},
        }
    )
    assert cfg.forwarding.holds and cfg.forwarding.keep[0].when.failed is True
