"""`collector-eval sessions`, `demo` and `evaluate FILE`, run as real subprocesses: the first two
against the running service (real Redis, real gRPC, the real judge server), the last with no Redis
and no server at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from collector_eval.export.carrier import verdict_to_dict
from collector_eval.model import EvaluationResult
from collector_eval.otlp.json_format import load_otlp_json, request_to_otlp_json
from tests.support.app import goal_answer, span_attrs
from tests.support.control import TENANT, send_turns, wait_until
from tests.support.corpus import CORPUS
from tests.support.verdicts import _verdict

ROOT = Path(__file__).resolve().parents[2]

# The console verdict's shape (export/carrier.verdict_to_dict), which evaluate and the control CLI share.
CONSOLE = verdict_to_dict(_verdict([EvaluationResult(name="any", status="ok")]))


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    # A token in the developer's environment must not leak into tests of its absence.
    full_env = {k: v for k, v in os.environ.items() if k != "COLLECTOR_EVAL_TOKEN"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "collector_eval.cli", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok_json(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------------------------- sessions


def test_sessions_list_show_end_reevaluate(service, sink, judge, client_for):
    judge.push(goal_answer(["a"], []), goal_answer([], ["a"]))
    svc = service()
    send_turns(client_for(svc.endpoint), "cli-1")
    at = ("--endpoint", svc.control_endpoint)

    listed = ok_json(cli("sessions", "list", "--json", *at))
    assert [(s["tenant"], s["session_id"], s["state"], s["spans"]) for s in listed["sessions"]] == [
        (TENANT, "cli-1", "buffered", 4)
    ]
    assert listed["next_page_token"] == ""
    table = cli("sessions", "list", *at)
    assert table.returncode == 0 and table.stdout.split("\n")[0].split() == [
        "TENANT",
        "SESSION",
        "STATE",
        "SPANS",
        "REVISION",
        "LATEST",
        "VERDICT",
    ]
    assert table.stdout.split("\n")[1].split() == [TENANT, "cli-1", "buffered", "4", "0", "-"]

    # No --tenant: the only tenant with this id is found.
    shown = ok_json(cli("sessions", "show", "cli-1", "--json", *at))
    assert (shown["state"], shown["spans"], shown["revision"], len(shown["trace_ids"])) == ("buffered", 4, 0, 2)

    ended = ok_json(cli("sessions", "end", "cli-1", "--tenant", TENANT, "--json", *at))
    assert (ended["state"], ended["trigger"]) == ("scheduled", "control") and ended["due_at_unix"]
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    judged = wait_until(
        lambda: (d := ok_json(cli("sessions", "show", "cli-1", "--json", *at)))["state"] == "judged" and d
    )
    (evaluation,) = judged["verdicts"][0]["evaluations"]
    # The evaluation has the console verdict's shape.
    assert set(evaluation) == set(CONSOLE["evaluations"][0])
    assert (evaluation["name"], evaluation["status"], evaluation["label"], evaluation["score"]) == (
        "goal_completeness",
        "ok",
        "complete",
        1.0,
    )

    people = cli("sessions", "show", "cli-1", *at)
    assert people.returncode == 0
    assert f"session cli-1 (tenant {TENANT}): judged" in people.stdout
    assert "goal_completeness complete 1.00: scripted verdict" in people.stdout

    again = ok_json(cli("sessions", "reevaluate", "cli-1", "--json", *at))
    assert again["next_revision"] == 2 and again["trigger"] == "control"
    sink.wait_for(lambda s: len(s.carriers()) == 2)
    assert span_attrs(sink.carriers()[1][2])["session.evaluations.0.evaluation.label"] == "incomplete"


def test_sessions_errors_exit_1_with_the_status(service, client_for):
    svc = service()
    client = client_for(svc.endpoint)
    send_turns(client, "twice", turns=1)
    send_turns(client, "twice", turns=1, tenant="another-app")
    at = ("--endpoint", svc.control_endpoint)

    missing = cli("sessions", "show", "nobody", *at)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr and "'nobody'" in missing.stderr
    ambiguous = cli("sessions", "show", "twice", *at)
    assert ambiguous.returncode == 1 and "another-app" in ambiguous.stderr and "--tenant" in ambiguous.stderr
    assert (
        ok_json(cli("sessions", "show", "twice", "--tenant", "another-app", "--json", *at))["tenant"] == "another-app"
    )
    unreachable = cli("sessions", "list", "--endpoint", "127.0.0.1:1", timeout=60)
    assert unreachable.returncode == 1 and "UNAVAILABLE" in unreachable.stderr


def test_sessions_token_from_the_environment(service):
    svc = service(receiver={"grpc": {"endpoint": "127.0.0.1:0", "auth": {"tokens": ["t0ken"]}}})
    at = ("--endpoint", svc.control_endpoint)
    refused = cli("sessions", "list", *at)
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr
    assert ok_json(cli("sessions", "list", "--json", *at, env={"COLLECTOR_EVAL_TOKEN": "t0ken"}))["sessions"] == []
    assert ok_json(cli("sessions", "list", "--json", "--token", "t0ken", *at))["sessions"] == []


# ---------------------------------------------------------------------------------------------- demo


def test_demo_sends_a_session_and_prints_its_verdict(service, sink, judge):
    judge.default = goal_answer(["name the puppy", "list vaccines"], ["book a vet appointment"])
    svc = service()
    result = cli(
        "demo", "--endpoint", svc.endpoint, "--control-endpoint", svc.control_endpoint, "--json", "--timeout", "30"
    )
    verdict = ok_json(result)
    assert verdict["tenant"] == "collector-eval-demo" and verdict["session_id"].startswith("demo-")
    assert verdict["state"] == "judged" and verdict["spans"] == 7
    (evaluation,) = verdict["verdicts"][0]["evaluations"]
    assert (evaluation["label"], round(evaluation["score"], 3)) == ("complete", 0.667)
    assert f"sent 7 spans of session {verdict['session_id']}" in result.stderr
    # The judge read the built-in conversation; the downstream got the spans and the verdict.
    prompt = judge.requests[0]["messages"][-1]["content"]
    assert "golden retriever" in prompt and "vaccinations" in prompt
    assert len([s for s in sink.spans() if s[2].name != "evaluate_session"]) == 7 and len(sink.carriers()) == 1

    people = cli("demo", "--endpoint", svc.endpoint, "--control-endpoint", svc.control_endpoint, "--timeout", "30")
    assert people.returncode == 0, people.stderr
    assert "goal_completeness complete 0.67" in people.stdout


def test_demo_without_a_verdict_in_time_fails(service):
    svc = service(session={"settle_delay_s": 30})
    result = cli("demo", "--endpoint", svc.endpoint, "--control-endpoint", svc.control_endpoint, "--timeout", "2")
    assert result.returncode == 1
    assert "no verdict within 2 s (last state: scheduled)" in result.stderr


def test_demo_with_no_service_fails_clearly():
    result = cli("demo", "--endpoint", "127.0.0.1:1", "--timeout", "1", timeout=90)
    assert result.returncode == 1 and "did not accept the spans" in result.stderr


# ---------------------------------------------------------------------------------------------- evaluate


def _config(tmp_path: Path, judge, **extra) -> Path:
    data = {
        # Unreachable on purpose: evaluate must not need Redis.
        "redis": {"url": "redis://127.0.0.1:1/0"},
        "judge": {"base_url": judge.url, "api_key_env": "COLLECTOR_EVAL_TEST_KEY", "timeout_s": 5},
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_evaluate_judges_each_session_of_a_file_offline(tmp_path, judge):
    judge.default = goal_answer(["name", "vaccines"], ["vet booking"])
    path = CORPUS / "openinference_openai_chat" / "otlp.json"
    result = cli(
        "evaluate", str(path), "--config", str(_config(tmp_path, judge)), env={"COLLECTOR_EVAL_TEST_KEY": "sk-test"}
    )
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert set(line) == set(CONSOLE)
    assert (line["session_id"], line["tenant"], line["trigger"], line["revision"]) == (
        "sess-oi-chat-0001",
        "openinference_openai_chat",
        "offline",
        0,
    )
    (evaluation,) = line["evaluations"]
    assert (evaluation["status"], evaluation["label"]) == ("ok", "complete")
    assert line["input_tokens"] == judge.prompt_tokens
    assert "Please book a vet appointment" in judge.requests[0]["messages"][-1]["content"]


def test_evaluate_several_sessions_and_no_key(tmp_path, judge):
    # JSON lines, one recorded app per line, as the Collector's file exporter writes.
    lines = [
        json.dumps(request_to_otlp_json(load_otlp_json(CORPUS / folder / "otlp.json")))
        for folder in ("openinference_openai_chat", "traceloop")
    ]
    both = tmp_path / "both.jsonl"
    both.write_text("\n".join(lines) + "\n")
    config = _config(tmp_path, judge)
    result = cli("evaluate", str(both), "--config", str(config), env={"COLLECTOR_EVAL_TEST_KEY": ""})
    assert result.returncode == 0, result.stderr
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert [o["tenant"] for o in out] == ["openinference_openai_chat", "traceloop"]
    for o in out:
        (evaluation,) = o["evaluations"]
        assert (evaluation["status"], evaluation["error_type"], evaluation["score"]) == (
            "skipped",
            "judge_disabled",
            None,
        )
    assert "COLLECTOR_EVAL_TEST_KEY is not set" in result.stderr
    assert judge.requests == []


def test_evaluate_unreadable_file_and_bad_config(tmp_path, judge):
    missing = cli("evaluate", str(tmp_path / "absent.json"))
    assert missing.returncode == 1 and "absent.json" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("evaluators: [no_such_evaluator]\n")
    refused = cli("evaluate", str(CORPUS / "traceloop" / "otlp.json"), "--config", str(bad))
    assert refused.returncode == 2 and "evaluators[0]" in refused.stderr
