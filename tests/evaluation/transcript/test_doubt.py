"""Doubt: a transcript the readers could not make consistent says so, one warning per kind of
inconsistency; every recorded session of the corpus is read exactly and gives none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from collector_eval.evaluation.transcript.builder import build_transcript
from collector_eval.otlp.json_format import load_otlp_files
from collector_eval.sessions.options import SessionConfig
from collector_eval.sessions.router import SessionRouter, group_sessions
from tests.support import corpus
from tests.support.judging import llm_attrs, raw_span

Q1 = "Which vaccinations does a puppy need?"
Q2 = "And when should it get them?"
A1 = "Distemper, parvovirus and rabies, as a rule."


def warnings(*calls: tuple[list[dict[str, Any]], dict[str, Any] | None]) -> list[str]:
    """The warnings of a session of OpenInference LLM spans, one per (input messages, output message)."""
    spans = [
        raw_span(i + 1, llm_attrs(messages, output), "ChatCompletion") for i, (messages, output) in enumerate(calls)
    ]
    return build_transcript([ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]).warnings


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


@pytest.mark.parametrize("folder", corpus.sessions(), ids=lambda p: p.name)
def test_corpus_sessions_are_read_without_warnings(folder: Path) -> None:
    request, logs = load_otlp_files([str(path) for path in corpus.files(folder)])
    sessions = group_sessions(request, SessionRouter(SessionConfig()))
    assert sessions, f"{folder.name}: no session found"
    for spans in sessions.values():
        assert build_transcript(spans, logs.resource_logs).warnings == []


def test_corpus_has_all_its_sessions() -> None:
    assert len(corpus.sessions()) == 21


def test_a_consistent_conversation_has_no_warning() -> None:
    assert warnings(([user(Q1)], assistant(A1)), ([user(Q1), assistant(A1), user(Q2)], assistant("At 8 weeks."))) == []


def test_unknown_role() -> None:
    found = warnings(([{"role": "critic", "content": "Too long."}, user(Q1)], assistant(A1)))
    assert found == ["unknown message role 'critic' (1 message left out)"]


def test_unknown_role_counts_distinct_messages_not_spans_repeating_them() -> None:
    critic = {"role": "critic", "content": "Too long."}
    found = warnings(
        ([critic, user(Q1)], assistant(A1)), ([critic, user(Q1), assistant(A1), user(Q2)], assistant("Soon."))
    )
    assert found == ["unknown message role 'critic' (1 message left out)"]


def test_system_and_developer_prompts_are_no_doubt() -> None:
    prompts = [{"role": "system", "content": "Be brief."}, {"role": "developer", "content": "No jokes."}]
    assert warnings(([*prompts, user(Q1)], assistant(A1))) == []


def test_tool_result_without_its_call() -> None:
    found = warnings(([user(Q1), {"role": "tool", "content": "vaccines.csv: 3 rows"}], assistant(A1)))
    assert found == ["1 tool result without a call"]


def test_tool_result_after_its_call_is_no_doubt() -> None:
    call = {"role": "assistant", "tool_calls": [{"name": "lookup", "arguments": {"q": "puppy"}}]}
    assert warnings(([user(Q1)], call), ([user(Q1), call, {"role": "tool", "content": "3 rows"}], assistant(A1))) == []


def test_message_repeated_across_turns() -> None:
    found = warnings(([user(Q1)], assistant(A1)), ([user(Q2)], assistant(A1)))
    assert found == [f"assistant message repeated 2 times: {A1[:40] + '…'!r}"]


def test_short_messages_said_twice_are_no_doubt() -> None:
    assert warnings(([user("yes")], assistant(A1)), ([user("yes")], assistant("Done."))) == []


def test_more_user_turns_than_llm_calls() -> None:
    found = warnings(([user(Q1), user(Q2), user("Also, what food?")], assistant(A1)))
    assert found == ["3 user turns but 1 LLM call"]


def test_a_node_span_repeating_the_first_question_gives_two_warnings() -> None:
    """LangGraph's node spans, read wrongly, repeat the thread's first question after the history."""
    found = warnings(([user(Q1)], assistant(A1)), ([user(Q2), user(Q1)], assistant("At 8 weeks.")))
    assert found == [f"user message repeated 2 times: {Q1!r}", "3 user turns but 2 LLM calls"]
