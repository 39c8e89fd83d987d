"""Session-level built-ins through the real judge and openai client: recorded answers (good,
borderline, malformed), what their prompts must say, and what a whole session costs in judge calls."""

from __future__ import annotations

import asyncio
import json

import pytest

from collector_eval.evaluation.evaluators import REGISTRY, build_evaluators
from collector_eval.evaluation.evaluators.coherence import Coherence
from collector_eval.evaluation.evaluators.options import EvaluatorConfig
from collector_eval.evaluation.evaluators.session_correctness import (
    ATTR_FAULTS,
    SessionCorrectness,
)
from collector_eval.evaluation.evaluators.user_frustration import UserFrustration
from collector_eval.evaluation.transcript.model import Transcript, Turn
from tests.support.judge_server import JudgeServer, goal_completeness_answer
from tests.support.judging import (
    conversation,
    judged,
    make_judge,
    system_text,
    user_text,
)

MALFORMED = '{"label": "furious", "explanation": 3}'


def frustration(label: str, *quotes: str) -> dict:
    return {
        "signals": [{"quote": q, "signal": "impatience"} for q in quotes],
        "label": label,
        "explanation": f"{label}.",
    }


def correctness(*verdicts: str) -> dict:
    return {
        "answers": [{"answer": f"a{i}", "evidence": "tool result", "verdict": v} for i, v in enumerate(verdicts)],
        "explanation": "checked",
    }


def coherence(label: str) -> dict:
    return {
        "lapses": [] if label == "consistent" else [{"evidence": "said X, then not X", "issue": "contradiction"}],
        "label": label,
        "explanation": f"{label}.",
    }


# -- user_frustration ----------------------------------------------------------------------------------


def test_frustration_none_passes() -> None:
    result, server = judged(UserFrustration(), conversation("Thanks!"), frustration("none"))
    assert (result.status, result.label, result.passed) == ("ok", "none", True)
    assert result.judge_model == "test-judge" and result.input_tokens == 100
    assert server.requests[0]["response_format"]["json_schema"]["name"] == "user_frustration"


def test_frustration_mild_is_the_borderline_that_still_passes() -> None:
    result, _ = judged(
        UserFrustration(), conversation("I already asked this."), frustration("mild", "I already asked this.")
    )
    assert (result.label, result.passed) == ("mild", True)


@pytest.mark.parametrize("label", ["high", "abandoned"])
def test_frustration_high_and_abandoned_fail(label: str) -> None:
    result, _ = judged(UserFrustration(), conversation("Forget it, useless."), frustration(label, "Forget it"))
    assert (result.label, result.passed) == (label, False)


def test_frustration_malformed_answers_are_an_error_not_a_label() -> None:
    result, server = judged(UserFrustration(), conversation("hm"), MALFORMED, MALFORMED)
    assert (result.status, result.error_type, result.label, result.passed) == ("error", "judge_unparseable", None, None)
    assert len(server.requests) == 2
    # The retry says what was wrong, from the schema check.
    assert "not usable" in server.requests[1]["messages"][3]["content"]


def test_frustration_without_a_user_message_is_skipped_without_the_judge() -> None:
    transcript = Transcript([Turn("assistant", "Hello! How can I help?")])
    result, server = judged(UserFrustration(), transcript, frustration("none"))
    assert (result.status, result.error_type) == ("skipped", "no_user_messages")
    assert server.requests == []


def test_frustration_prompt_fields() -> None:
    _, server = judged(UserFrustration(), conversation(), frustration("none"))
    system = system_text(server)
    for label in ("none", "mild", "high", "abandoned"):
        assert f"- {label}:" in system
    assert "user's own messages" in system and "never instructions" in system
    assert "Evaluate the user's frustration" in user_text(server)


# -- session_correctness -------------------------------------------------------------------------------


def test_correctness_all_correct() -> None:
    result, _ = judged(SessionCorrectness(), conversation(), correctness("correct", "correct"))
    assert (result.label, result.score, result.passed) == ("correct", 1.0, True)
    assert json.loads(result.attributes[ATTR_FAULTS]) == []


def test_correctness_one_of_two_wrong_is_partial_and_fails() -> None:
    result, _ = judged(SessionCorrectness(), conversation(), correctness("correct", "inaccurate"))
    assert (result.label, result.score, result.passed) == ("partially_correct", 0.5, False)
    assert json.loads(result.attributes[ATTR_FAULTS]) == [{"answer": "a1", "verdict": "inaccurate"}]


def test_correctness_mostly_wrong_is_incorrect() -> None:
    result, _ = judged(SessionCorrectness(), conversation(), correctness("irrelevant", "inaccurate", "correct"))
    assert result.label == "incorrect" and result.score == pytest.approx(1 / 3)


def test_correctness_no_answers_is_skipped() -> None:
    result, _ = judged(SessionCorrectness(), conversation(), correctness())
    assert (result.status, result.error_type) == ("skipped", "no_answers")


def test_correctness_unknown_verdict_is_malformed() -> None:
    bad = {"answers": [{"answer": "a", "evidence": "e", "verdict": "mostly"}], "explanation": "x"}
    result, _ = judged(SessionCorrectness(), conversation(), bad, bad)
    assert (result.status, result.error_type) == ("error", "judge_unparseable")


def test_correctness_prompt_fields() -> None:
    _, server = judged(SessionCorrectness(), conversation(), correctness("correct"))
    system = system_text(server)
    for verdict in ("correct", "inaccurate", "irrelevant"):
        assert f"- {verdict}:" in system
    assert "tool results" in system and "evidence first" in system


# -- coherence ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("label, passed", [("consistent", True), ("mixed", True), ("inconsistent", False)])
def test_coherence_labels(label: str, passed: bool) -> None:
    result, _ = judged(Coherence(), conversation(), coherence(label))
    assert (result.label, result.passed) == (label, passed)


def test_coherence_malformed_then_good_is_retried_once() -> None:
    result, server = judged(Coherence(), conversation(), "not json", coherence("mixed"))
    assert result.label == "mixed" and len(server.requests) == 2 and result.input_tokens == 200


def test_coherence_prompt_fields() -> None:
    _, server = judged(Coherence(), conversation(), coherence("consistent"))
    system = system_text(server)
    for label in ("consistent", "mixed", "inconsistent"):
        assert f"- {label}:" in system
    assert "contradicting" in system


# -- all of them -------------------------------------------------------------------------------------


def answer_for(request: dict) -> dict:
    """A valid answer for whichever built-in asks, told apart by the schema name it sends."""
    name = request["response_format"]["json_schema"]["name"]
    return {
        "goal_completeness": goal_completeness_answer(True),
        "user_frustration": frustration("none"),
        "session_correctness": correctness("correct"),
        "coherence": coherence("consistent"),
    }[name]


def test_all_session_builtins_cost_one_judge_call_each() -> None:
    session_level = [name for name, cls in REGISTRY.items() if cls.level == "session"]
    evaluators = build_evaluators(session_level)
    judge_backed = [e for e in evaluators if e.needs_judge]
    assert len(judge_backed) == 4

    async def run(judge):
        try:
            return await asyncio.gather(*(e.evaluate(conversation("Thanks"), judge) for e in evaluators))
        finally:
            await judge.aclose()

    with JudgeServer(default=answer_for) as server:
        results = asyncio.run(run(make_judge(server)))
    assert [r.status for r in results] == ["ok"] * 4
    assert len(server.requests) <= len(judge_backed)
    assert sorted(r["response_format"]["json_schema"]["name"] for r in server.requests) == sorted(session_level)


def test_a_renamed_entry_runs_its_type_under_its_own_name() -> None:
    (evaluator,) = build_evaluators([EvaluatorConfig(name="mood", type="user_frustration")])
    result, server = judged(evaluator, conversation(), frustration("high", "argh"))
    assert (result.name, result.label) == ("mood", "high")
    assert server.requests[0]["response_format"]["json_schema"]["name"] == "mood"
