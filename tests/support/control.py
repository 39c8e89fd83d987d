"""Helpers shared by several test modules."""

from __future__ import annotations

import time

from tests.support.spans import llm_span, request, span, trace_id

TENANT = "control-app"


def send_turns(client, session_id: str, turns: int = 2, tenant: str = TENANT) -> list[bytes]:
    """Buffers a session of `turns` traces (a root naming the session, an LLM child) without ending it."""
    trace_ids = []
    for i in range(turns):
        tid = trace_id()
        root = span(tid, "chat_turn", **{"session.id": session_id})
        child = llm_span(tid, f"question {i}", f"answer {i}", parent=root.span_id)
        client.export(request(root, child, service_name=tenant))
        trace_ids.append(tid)
    return trace_ids


def wait_until(predicate, timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition never held")
