"""A server refusing a response-format mode, in each shape servers use (400, 422, llama-cpp-python's 500):
the judge moves down a mode at once (no backoff; the refusal counts as an attempt while one is left, so
an ask makes at most 1 + max_retries calls) and keeps the mode that works. A 500 that names
no response format is still a server fault, retried."""

from __future__ import annotations

import asyncio
import time

import pytest

from collector_eval.backoff import Backoff
from collector_eval.evaluation.judge.client import Judge, JudgeAnswer, JudgeError
from collector_eval.evaluation.judge.modes import names_response_format
from collector_eval.evaluation.judge.options import JudgeConfig
from tests.evaluation.test_judge import GOOD, SCHEMA
from tests.support.judge_server import (
    JSON_SCHEMA_REJECTED,
    LLAMA_CPP_PYTHON_REFUSAL,
    VALIDATION_400_REFUSAL,
    VALIDATION_422_REFUSAL,
    HttpError,
    JudgeServer,
)

REFUSALS = {
    "llama-cpp-python-500": LLAMA_CPP_PYTHON_REFUSAL,
    "vllm-400": VALIDATION_400_REFUSAL,
    "fastapi-422": VALIDATION_422_REFUSAL,
    "openai-400": JSON_SCHEMA_REJECTED,
}


def _validate(data: dict) -> None:
    if not isinstance(data.get("ok"), bool):
        raise ValueError("'ok' must be a boolean")


def make_judge(server: JudgeServer, max_retries: int) -> Judge:
    cfg = JudgeConfig(base_url=server.url, model="test-judge", timeout_s=2, max_retries=max_retries)
    judge = Judge(cfg, environ={"OPENAI_API_KEY": "sk-test"})
    # Long enough that a backoff taken by mistake shows in the elapsed time.
    judge.backoff = Backoff(1.0, 8.0)
    return judge


def ask(judge: Judge, times: int = 1) -> list[JudgeAnswer]:
    async def run() -> list[JudgeAnswer]:
        try:
            return [
                await judge.ask(system="Is it ok?", user="data", schema=SCHEMA, schema_name="v", validate=_validate)
                for _ in range(times)
            ]
        finally:
            await judge.aclose()

    return asyncio.run(run())


def formats(server: JudgeServer) -> list[str | None]:
    return [(r.get("response_format") or {}).get("type") for r in server.requests]


@pytest.mark.parametrize("refusal", REFUSALS.values(), ids=REFUSALS.keys())
@pytest.mark.parametrize("max_retries", [0, 2])
def test_a_refusal_moves_to_json_mode_without_spending_a_retry(refusal: HttpError, max_retries: int) -> None:
    with JudgeServer(default=GOOD, reject_json_schema=True, json_schema_refusal=refusal) as server:
        # max_retries 0: had the refusal been counted as the attempt, JSON mode would never be tried.
        (answer,) = ask(make_judge(server, max_retries))
    assert answer.data == {"ok": True}
    assert formats(server) == ["json_schema", "json_object"]
    assert len(server.requests) <= 1 + 1 + max_retries  # the refusal, then the attempts


@pytest.mark.parametrize("refusal", REFUSALS.values(), ids=REFUSALS.keys())
def test_the_mode_that_works_is_kept_for_later_asks(refusal: HttpError) -> None:
    with JudgeServer(default=GOOD, reject_json_schema=True, json_schema_refusal=refusal) as server:
        answers = ask(make_judge(server, max_retries=2), times=3)
    assert [a.data for a in answers] == [{"ok": True}] * 3
    assert formats(server) == ["json_schema", "json_object", "json_object", "json_object"]


def test_a_refusal_takes_no_backoff() -> None:
    with JudgeServer(default=GOOD, reject_json_schema=True, json_schema_refusal=LLAMA_CPP_PYTHON_REFUSAL) as server:
        started = time.monotonic()
        ask(make_judge(server, max_retries=2))
        elapsed = time.monotonic() - started
    assert elapsed < 0.9  # the judge's backoff is 1 s: a refusal treated as a fault would have waited


def test_unusable_answers_after_a_refusal_end_unparseable_after_every_attempt() -> None:
    with JudgeServer(
        default="no JSON here", reject_json_schema=True, json_schema_refusal=LLAMA_CPP_PYTHON_REFUSAL
    ) as server:
        with pytest.raises(JudgeError) as info:
            ask(make_judge(server, max_retries=1))
    assert info.value.error_type == "judge_unparseable"
    # The refusal used up one of the 1 + max_retries attempts: the JSON mode got the other.
    assert formats(server) == ["json_schema", "json_object"]


def test_a_500_naming_no_response_format_is_a_server_fault_and_retried() -> None:
    with JudgeServer(default=HttpError(500, {"error": {"message": "CUDA out of memory"}})) as server:
        judge = make_judge(server, max_retries=2)
        judge.backoff = Backoff(0.01, 8.0)
        with pytest.raises(JudgeError) as info:
            ask(judge)
    assert info.value.error_type == "judge_server_error"
    assert formats(server) == ["json_schema"] * 3


def test_a_500_then_a_verdict_stays_in_json_schema_mode() -> None:
    with JudgeServer([HttpError(500, {"error": {"message": "boom"}})], default=GOOD) as server:
        judge = make_judge(server, max_retries=1)
        judge.backoff = Backoff(0.01, 8.0)
        (answer,) = ask(judge)
    assert answer.data == {"ok": True}
    assert formats(server) == ["json_schema", "json_schema"]


def test_json_mode_refused_by_a_500_too_moves_to_instructions() -> None:
    json_object_refused = HttpError(500, {"error": {"message": "response_format json_object: no grammar support"}})
    with JudgeServer(
        [json_object_refused], default=GOOD, reject_json_schema=True, json_schema_refusal=LLAMA_CPP_PYTHON_REFUSAL
    ) as server:
        (answer,) = ask(make_judge(server, max_retries=0))
    assert answer.data == {"ok": True}
    assert formats(server) == ["json_schema", "json_object", None]


def test_in_instructions_mode_a_500_naming_the_format_is_still_a_fault() -> None:
    # No response_format was sent, so an error naming one cannot be a refusal of it: retried, reported.
    naming = HttpError(500, {"error": {"message": "response_format handler crashed"}})
    with JudgeServer([naming, naming], default=naming) as server:
        judge = make_judge(server, max_retries=1)
        judge.backoff = Backoff(0.01, 8.0)
        with pytest.raises(JudgeError) as info:
            ask(judge)
    assert info.value.error_type == "judge_server_error"
    # Two refusals walk it down to instructions (the first used up the one retry; the second had none
    # left to use, so the mode it found still gets its call); there, the same answer is a fault.
    assert formats(server) == ["json_schema", "json_object", None]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Input should be 'text' or 'json_object'", True),
        ("{'loc': ('body', 'response_format', 'type')}", True),
        ("Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", True),
        ("The ResponseFormat value is invalid", True),
        ("CUDA out of memory", False),
        ("This model's maximum context length is 2048 tokens", False),
    ],
)
def test_what_names_the_response_format(text: str, named: bool) -> None:
    assert names_response_format(text) is named
