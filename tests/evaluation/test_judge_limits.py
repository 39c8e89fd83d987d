"""Judge rate limits (waiting, not failing), the hourly token budget and prices, against the real
local judge server; the bucket and the budget on their own with a clock the test moves."""

from __future__ import annotations

import asyncio
import time

import pytest

from collector_eval.evaluation.evaluators.goal_completeness import GoalCompleteness
from collector_eval.evaluation.judge.client import Judge, JudgeError
from collector_eval.evaluation.judge.options import JudgePriceConfig
from collector_eval.evaluation.judge.ratelimit import HourlyBudget, TokenBucket
from tests.support.judge_server import JudgeServer
from tests.support.judging import conversation, make_judge

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ok"],
    "properties": {"ok": {"type": "boolean"}},
}


async def _asks(judge: Judge, times: int) -> list[float]:
    """Asks one after another; the moments each answer arrived."""
    done = []
    try:
        for _ in range(times):
            await judge.ask(system="s", user="u", schema=SCHEMA, schema_name="v")
            done.append(time.monotonic())
    finally:
        await judge.aclose()
    return done


def test_requests_per_minute_paces_requests_instead_of_failing() -> None:
    with JudgeServer(default={"ok": True}) as server:
        start = time.monotonic()
        done = asyncio.run(_asks(make_judge(server, requests_per_minute=120), 6))  # 2 a second, 2 banked
    assert len(server.requests) == 6
    # Two go at once, the other four one every half second.
    assert 1.8 <= done[-1] - start < 4
    assert all(later - earlier >= 0.4 for earlier, later in zip(done[2:], done[3:]))


def test_tokens_per_minute_waits_for_tokens_spent() -> None:
    # 30 tokens a second, 30 banked; every answer reports 60 used, so the bucket is 30 in debt after
    # the first and 58 after the second: the next requests wait about 1 s, then about 2 s.
    with JudgeServer(default={"ok": True}, prompt_tokens=50, completion_tokens=10) as server:
        done = asyncio.run(_asks(make_judge(server, tokens_per_minute=1800), 3))
    assert len(server.requests) == 3
    assert 0.9 <= done[1] - done[0] < 2
    assert 1.8 <= done[2] - done[1] < 3


def test_budget_exhausted_skips_judge_evaluations() -> None:
    async def run(judge: Judge) -> list:
        try:
            return [await GoalCompleteness().evaluate(conversation(), judge) for _ in range(4)]
        finally:
            await judge.aclose()

    with JudgeServer() as server:  # 120 tokens an answer
        results = asyncio.run(run(make_judge(server, max_tokens_per_hour=250)))
    assert [r.status for r in results] == ["ok", "ok", "ok", "skipped"]
    assert results[3].error_type == "judge_budget_exhausted" and "250" in results[3].explanation
    assert len(server.requests) == 3


def test_budget_is_checked_before_every_attempt() -> None:
    async def run(judge: Judge) -> JudgeError:
        try:
            with pytest.raises(JudgeError) as info:
                await judge.ask(system="s", user="u", schema=SCHEMA, schema_name="v")
            return info.value
        finally:
            await judge.aclose()

    with JudgeServer(default="not json") as server:
        error = asyncio.run(run(make_judge(server, max_tokens_per_hour=100, max_retries=5)))
    assert error.error_type == "judge_budget_exhausted"
    assert len(server.requests) == 1 and error.input_tokens == 100


def test_prices_give_the_cost_of_a_result() -> None:
    async def run(judge: Judge):
        try:
            return await GoalCompleteness().evaluate(conversation(), judge)
        finally:
            await judge.aclose()

    prices = {"test-judge": JudgePriceConfig(input_per_1k=0.15, output_per_1k=0.6)}
    with JudgeServer() as server:
        priced = asyncio.run(run(make_judge(server, prices=prices)))
        unpriced = asyncio.run(run(make_judge(server, prices={"other": JudgePriceConfig(1, 1)})))
    assert priced.cost == pytest.approx((100 * 0.15 + 20 * 0.6) / 1000)
    assert unpriced.cost is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_rolls_over_the_hour() -> None:
    clock = Clock()
    budget = HourlyBudget(100, clock)
    budget.spend(60)
    clock.now += 1800
    budget.spend(50)
    assert budget.exhausted and budget.spent == 110
    clock.now += 1801  # the first spend is now more than an hour old
    assert not budget.exhausted and budget.spent == 50


def test_bucket_debt_is_repaid_before_the_next_take() -> None:
    clock = Clock()
    bucket = TokenBucket(60, clock)  # 1 a second, 1 banked

    async def take(amount: float) -> None:
        await asyncio.wait_for(bucket.take(amount), timeout=0.05)

    asyncio.run(take(5))  # more than the capacity: taken when full, the rest as debt
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(take(1))
    clock.now += 5
    asyncio.run(take(1))
    bucket.adjust(-10)  # a refund never banks more than the capacity
    asyncio.run(take(1))
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(take(1))
