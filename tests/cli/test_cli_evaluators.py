"""`collector-eval evaluators`, run as a real subprocess: every built-in, for people and for machines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from collector_eval.evaluation.evaluators import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "collector_eval.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_json_lists_every_builtin_with_level_output_pass_and_judge() -> None:
    result = run_cli("evaluators", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert list(rows) == list(REGISTRY)
    assert len(rows) == 12
    frustration = rows["user_frustration"]
    assert (frustration["level"], frustration["labels"], frustration["pass"]) == (
        "session",
        ["none", "mild", "high", "abandoned"],
        "none or mild",
    )
    assert rows["goal_completeness"]["score"] == {"min": 0, "max": 1, "direction": "higher"}
    assert rows["failure_to_answer"]["without_judge"] and rows["failure_to_answer"]["options"] == ["fail_categories"]
    assert "empty_response, refusal_response" in rows["failure_to_answer"]["pass"]
    assert rows["trajectory"]["level"] == "trace"
    assert {row["level"] for row in rows.values()} == {"session", "span", "trace"}
    assert all(row["needs_judge"] and row["pass"] and row["version"] for row in rows.values())


def test_table_has_one_line_per_builtin() -> None:
    result = run_cli("evaluators")
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["name", "level", "judge", "output", "pass"]
    assert [line.split()[0] for line in lines] == list(REGISTRY)
    coherence = next(line for line in lines if line.startswith("coherence "))
    assert coherence.split()[1:3] == ["session", "yes"] and "consistent | mixed | inconsistent" in coherence
    toxicity = next(line for line in lines if line.startswith("toxicity "))
    assert toxicity.split()[1:3] == ["span", "partly"]


def test_help_lists_the_command() -> None:
    result = run_cli("--help")
    assert "evaluators" in result.stdout
