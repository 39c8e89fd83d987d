"""Doubt: signs that the readers did not make one consistent conversation of a session's spans.

A wrong transcript is worse than an empty one, as it is judged as if it were right; so what the builder
could not reconcile is said in short warnings, which every session-level result carries and which
`transcript.on_doubt: skip` keeps from the judge. Each check looks for what a well-read session never
shows: the 21 recorded sessions of tests/corpus give no warning.
"""

from __future__ import annotations

from collections import Counter

from collector_eval.evaluation.transcript.messages import Message

# Roles left out on purpose: instructions to the model, not turns of the conversation.
IGNORED_ROLES = frozenset({"system", "developer"})
# Short messages are said twice on purpose ("yes", "thanks"); a long one repeated is history read twice.
_REPEAT_MIN_CHARS = 20
_QUOTE_CHARS = 40


def warnings(history: list[Message], llm_calls: int, unknown_roles: dict[str, set[str]]) -> list[str]:
    """The warnings for a conversation (after merging and tool results), the number of LLM calls it was
    read from, and the messages of unknown roles left out (role -> their keys)."""
    found = [
        f"unknown message role {role!r} ({_count(len(keys), 'message')} left out)"
        for role, keys in sorted(unknown_roles.items())
    ]
    orphans = _orphan_tool_results(history)
    if orphans:
        found.append(f"{_count(orphans, 'tool result')} without a call")
    found += _repeated(history)
    users = sum(1 for m in history if m.role == "user")
    if users > llm_calls:
        found.append(f"{_count(users, 'user turn')} but {_count(llm_calls, 'LLM call')}")
    return found


def _orphan_tool_results(history: list[Message]) -> int:
    """Tool messages no earlier assistant call asks for: the call was lost, or the result belongs elsewhere."""
    orphans = 0
    pending: list[str | None] = []  # ids of the calls of the last assistant message not yet answered
    for msg in history:
        if msg.role == "assistant":
            pending = [call.id for call in msg.calls]
        elif msg.role == "tool":
            if msg.answers and msg.answers in pending:
                pending.remove(msg.answers)
            elif pending and (not msg.answers or None in pending):
                pending.pop(0)  # ids missing on one side: answered in order
            else:
                orphans += 1
    return orphans


def _repeated(history: list[Message]) -> list[str]:
    counts = Counter(m.key for m in history if m.role in ("user", "assistant") and len(m.content) >= _REPEAT_MIN_CHARS)
    out = []
    for msg in history:
        n = counts.pop(msg.key, 1)
        if n > 1:
            quote = msg.content if len(msg.content) <= _QUOTE_CHARS else msg.content[:_QUOTE_CHARS] + "…"
            out.append(f"{msg.role} message repeated {n} times: {quote!r}")
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
