"""The offline commands with the transcript options: `transcript --config` reads an unknown
instrumentation through a mapping and prints a doubtful transcript's warnings and a no_content
session's scopes; `evaluate` honours transcript.on_doubt; `check-config` refuses a bad mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector_eval.cli import main as cli

QUESTION = "What is the weather in Lisbon?"
ANSWER = "It is 19 C and sunny."
MAPPING = """\
transcript:
  mappings:
    - match: {scope: acme-llm}
      shape: text
      input: acme.prompt
      output: acme.completion
"""


def _attrs(attrs: dict[str, str]) -> list[dict[str, Any]]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]


def otlp_file(tmp_path: Path, scope: str, *spans: dict[str, str]) -> Path:
    """An OTLP/JSON trace file of one session: one span per attribute dict, under one scope."""
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": _attrs({"service.name": "acme-app"})},
                "scopeSpans": [
                    {
                        "scope": {"name": scope, "version": "2.3"},
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": f"{i + 1:016x}",
                                "name": "call",
                                "startTimeUnixNano": str(1_700_000_000_000_000_000 + i),
                                "endTimeUnixNano": str(1_700_000_000_000_000_100 + i),
                                "attributes": _attrs({"session.id": "s-1", **attrs}),
                            }
                            for i, attrs in enumerate(spans)
                        ],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "otlp.json"
    path.write_text(json.dumps(doc))
    return path


def transcript_line(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert cli.main(["transcript", *args]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    return json.loads(line)


def test_transcript_names_the_scopes_of_a_session_with_no_content(tmp_path: Path, capsys) -> None:
    path = otlp_file(tmp_path, "acme-llm", {"acme.prompt": QUESTION, "acme.completion": ANSWER})
    line = transcript_line(capsys, str(path))
    assert line["status"] == "no_content" and line["turns"] == []
    assert "no message content in spans of scopes: acme-llm 2.3" in line["explanation"]


def test_transcript_reads_with_the_config_mappings(tmp_path: Path, capsys) -> None:
    path = otlp_file(tmp_path, "acme-llm", {"acme.prompt": QUESTION, "acme.completion": ANSWER})
    config = tmp_path / "acme.yaml"
    config.write_text(MAPPING)
    line = transcript_line(capsys, str(path), "--config", str(config))
    assert line["status"] == "ok"
    assert line["turns"] == [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": ANSWER}]
    assert "warnings" not in line and "explanation" not in line


def test_transcript_prints_the_warnings(tmp_path: Path, capsys) -> None:
    messages = {
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": QUESTION,
        "llm.input_messages.1.message.role": "critic",
        "llm.input_messages.1.message.content": "Be shorter.",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": ANSWER,
    }
    line = transcript_line(capsys, str(otlp_file(tmp_path, "openinference.instrumentation.openai", messages)))
    assert line["status"] == "ok"
    assert line["warnings"] == ["unknown message role 'critic' (1 message left out)"]


def _doubtful(tmp_path: Path) -> Path:
    questions = [QUESTION, "And tomorrow?", "And in Porto?"]
    attrs = {f"llm.input_messages.{i}.message.content": q for i, q in enumerate(questions)}
    attrs |= {f"llm.input_messages.{i}.message.role": "user" for i in range(3)}
    attrs |= {"llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": ANSWER}
    return otlp_file(tmp_path, "openinference.instrumentation.openai", attrs)


@pytest.mark.parametrize("on_doubt, reason", [("judge", "judge_disabled"), ("skip", "doubtful_transcript")])
def test_evaluate_honours_on_doubt(tmp_path: Path, capsys, monkeypatch, on_doubt: str, reason: str) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text(f"transcript: {{on_doubt: {on_doubt}}}\n")
    assert cli.main(["evaluate", str(_doubtful(tmp_path)), "--config", str(config)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    (goal,) = json.loads(line)["evaluations"]
    # With `judge` it goes on to the judge (here off, for want of a key); with `skip` it never gets there.
    assert (goal["status"], goal["error_type"]) == ("skipped", reason)
    assert goal["attributes"]["collector_eval.transcript.warnings"] == ["3 user turns but 1 LLM call"]


def test_check_config_refuses_a_bad_mapping_naming_its_key(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(MAPPING.replace("shape: text", "shape: xml"))
    assert cli.main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "transcript.mappings[0].shape: 'xml' is not one of" in err
