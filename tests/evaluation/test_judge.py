"""The judge against a real local OpenAI-compatible server, through the real openai client."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time

import pytest

from collector_eval.backoff import Backoff
from collector_eval.evaluation.judge.client import Judge, JudgeAnswer, JudgeError
from collector_eval.evaluation.judge.options import JudgeConfig
from tests.support.judge_server import CONTEXT_LENGTH_EXCEEDED, HttpError, JudgeServer

SECRET = "sk-test-secret-value"
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ok"],
    "properties": {"ok": {"type": "boolean"}},
}
GOOD = json.dumps({"ok": True})


def _validate(data: dict) -> None:
    if not isinstance(data.get("ok"), bool):
        raise ValueError("'ok' must be a boolean")


def make_judge(url: str, **overrides: object) -> Judge:
    cfg = JudgeConfig(**{"base_url": url, "model": "test-judge", "timeout_s": 2, "max_retries": 2, **overrides})
    judge = Judge(cfg, environ={"OPENAI_API_KEY": SECRET})
    judge.backoff = Backoff(0.01, 8.0)
    return judge


async def _ask(judge: Judge) -> JudgeAnswer:
    return await judge.ask(system="Is it ok?", user="data", schema=SCHEMA, schema_name="verdict", validate=_validate)


def ask(judge: Judge, times: int = 1) -> list[JudgeAnswer]:
    async def run() -> list[JudgeAnswer]:
        try:
            return [await _ask(judge) for _ in range(times)]
        finally:
            await judge.aclose()

    return asyncio.run(run())


def ask_error(judge: Judge) -> JudgeError:
    with pytest.raises(JudgeError) as info:
        ask(judge)
    return info.value


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_json_schema_accepted() -> None:
    with JudgeServer([GOOD]) as server:
        (answer,) = ask(make_judge(server.url, temperature=0.25))
    assert answer == JudgeAnswer(data={"ok": True}, model="test-judge", input_tokens=100, output_tokens=20)
    (request,) = server.requests
    assert request["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True},
    }
    assert request["temperature"] == 0.25
    assert request["messages"] == [{"role": "system", "content": "Is it ok?"}, {"role": "user", "content": "data"}]
    assert server.headers[0]["authorization"] == f"Bearer {SECRET}"


def test_azure_provider() -> None:
    with JudgeServer([GOOD]) as server:
        root = server.url.removesuffix("/v1")
        (answer,) = ask(make_judge(root, provider="azure", model="my-deployment", api_version="2024-10-21"))
    assert answer.data == {"ok": True}
    assert server.paths == ["/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21"]
    assert server.headers[0]["api-key"] == SECRET


def test_rejected_json_schema_falls_back_to_json_object_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="collector_eval.evaluation.judge.client")
    with JudgeServer(default=GOOD, reject_json_schema=True) as server:
        answers = ask(make_judge(server.url), times=2)
    assert [a.data for a in answers] == [{"ok": True}, {"ok": True}]
    formats = [r.get("response_format", {}).get("type") for r in server.requests]
    # The refusal is remembered: the second ask goes straight to JSON mode.
    assert formats == ["json_schema", "json_object", "json_object"]
    system = server.requests[1]["messages"][0]["content"]
    assert system.startswith("Is it ok?") and '"required"' in system and "JSON" in system
    assert len([r for r in caplog.records if "falling back" in r.getMessage()]) == 1


def test_any_400_on_first_json_schema_attempt_falls_back() -> None:
    with JudgeServer([HttpError(400, {"error": {"message": "unknown field"}}), GOOD]) as server:
        ask(make_judge(server.url))
    assert server.requests[1]["response_format"] == {"type": "json_object"}


def test_rejected_json_object_falls_back_to_instructions() -> None:
    json_object_rejected = HttpError(400, {"error": {"message": "response_format json_object is not supported"}})
    with JudgeServer([json_object_rejected], default=GOOD, reject_json_schema=True) as server:
        (answer,) = ask(make_judge(server.url))
    assert answer.data == {"ok": True}
    assert len(server.requests) == 3
    assert "response_format" not in server.requests[2]
    assert '"required"' in server.requests[2]["messages"][0]["content"]


def test_garbage_then_good_answer() -> None:
    with JudgeServer(["I think it is fine.", GOOD]) as server:
        (answer,) = ask(make_judge(server.url))
    assert answer.data == {"ok": True}
    assert (answer.input_tokens, answer.output_tokens) == (200, 40)
    assert len(server.requests) == 2
    # The retry tells the model what was wrong with its answer.
    retry = server.requests[1]["messages"]
    assert retry[2] == {"role": "assistant", "content": "I think it is fine."}
    assert "not usable" in retry[3]["content"]


def test_answer_failing_validation_is_retried() -> None:
    with JudgeServer([{"ok": "yes"}, GOOD]) as server:
        (answer,) = ask(make_judge(server.url))
    assert answer.data == {"ok": True}
    assert len(server.requests) == 2


def test_garbage_forever_is_unparseable() -> None:
    with JudgeServer(default="not json at all") as server:
        error = ask_error(make_judge(server.url, max_retries=2))
    assert error.error_type == "judge_unparseable"
    assert len(server.requests) == 3
    assert (error.input_tokens, error.output_tokens) == (300, 60)


@pytest.mark.parametrize(
    "content",
    [
        '```json\n{"ok": true}\n```',
        'Here it is:\n```\n{"ok": true}\n```\nDone.',
        '<think>hmm, "ok" fits</think>\n{"ok": true}',
    ],
)
def test_fences_and_thinking_are_stripped(content: str) -> None:
    with JudgeServer([content]) as server:
        (answer,) = ask(make_judge(server.url))
    assert answer.data == {"ok": True}
    assert len(server.requests) == 1


def test_server_error_then_good() -> None:
    with JudgeServer([HttpError(500, {"error": {"message": "boom"}}), GOOD]) as server:
        (answer,) = ask(make_judge(server.url))
    assert answer.data == {"ok": True}
    assert len(server.requests) == 2


def test_server_error_forever() -> None:
    with JudgeServer(default=HttpError(503, {"error": {"message": "overloaded"}})) as server:
        error = ask_error(make_judge(server.url, max_retries=1))
    assert error.error_type == "judge_server_error"
    assert len(server.requests) == 2


def test_rate_limited_with_retry_after_is_retried() -> None:
    limited = HttpError(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0"})
    with JudgeServer([limited, GOOD]) as server:
        (answer,) = ask(make_judge(server.url))
    assert answer.data == {"ok": True}
    assert len(server.requests) == 2


def test_retry_after_is_honoured() -> None:
    limited = HttpError(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0.4"})
    with JudgeServer([limited, GOOD]) as server:
        start = time.monotonic()
        ask(make_judge(server.url))
        assert time.monotonic() - start >= 0.4


def test_rate_limited_forever() -> None:
    with JudgeServer(default=HttpError(429, {"error": {"message": "slow down"}})) as server:
        error = ask_error(make_judge(server.url, max_retries=2))
    assert error.error_type == "judge_rate_limited"
    assert len(server.requests) == 3


def test_context_length_is_not_retried() -> None:
    with JudgeServer([CONTEXT_LENGTH_EXCEEDED], default=GOOD) as server:
        error = ask_error(make_judge(server.url))
    assert error.error_type == "judge_context_length"
    assert len(server.requests) == 1


def test_connection_refused() -> None:
    error = ask_error(make_judge(closed_port_url(), max_retries=1))
    assert error.error_type == "judge_connection"


def test_timeout() -> None:
    def slow(request: dict) -> str:
        time.sleep(1)
        return GOOD

    with JudgeServer(default=slow) as server:
        error = ask_error(make_judge(server.url, timeout_s=0.2, max_retries=0))
    assert error.error_type == "judge_timeout"
    assert len(server.requests) == 1


def test_auth_error_is_not_retried_and_never_echoes_the_key() -> None:
    echoed = HttpError(401, {"error": {"message": f"Incorrect API key provided: {SECRET}", "code": "invalid_api_key"}})
    with JudgeServer(default=echoed) as server:
        error = ask_error(make_judge(server.url))
    assert error.error_type == "judge_auth"
    assert len(server.requests) == 1
    assert SECRET not in str(error)


@pytest.mark.parametrize("environ", [{}, {"OPENAI_API_KEY": ""}])
def test_missing_key_disables_the_judge(environ: dict[str, str]) -> None:
    judge = Judge(JudgeConfig(), environ=environ)
    assert not judge.enabled
    assert judge.disabled_reason == "judge disabled: environment variable OPENAI_API_KEY is not set"
    error = ask_error(judge)
    assert error.error_type == "judge_disabled"


def test_custom_key_env_is_named_and_key_never_shown() -> None:
    cfg = JudgeConfig(api_key_env="MY_JUDGE_KEY")
    assert "MY_JUDGE_KEY" in (Judge(cfg, environ={}).disabled_reason or "")
    judge = Judge(cfg, environ={"MY_JUDGE_KEY": SECRET})
    assert judge.enabled and judge.disabled_reason is None
    assert SECRET not in repr(judge) and SECRET not in str(judge)


def test_concurrency_is_bounded() -> None:
    lock = threading.Lock()
    in_flight = peak = 0

    def tracked(request: dict) -> str:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return GOOD

    async def run(judge: Judge) -> None:
        try:
            await asyncio.gather(*(_ask(judge) for _ in range(6)))
        finally:
            await judge.aclose()

    with JudgeServer(default=tracked) as server:
        asyncio.run(run(make_judge(server.url, max_concurrency=2)))
    assert len(server.requests) == 6
    assert peak == 2
