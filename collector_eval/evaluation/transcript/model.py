"""The transcript: a session's conversation as ordered turns, what evaluators and the judge see."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Turn:
    role: str  # "user" | "assistant" | "tool"
    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "arguments"}]
    # For a tool turn, the tool that produced it; only for render(), so not part of equality.
    name: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [dict(call) for call in self.tool_calls]
        return out

    def render(self) -> str:
        if self.role == "tool":
            return f"[tool {self.name}]\n{self.content}" if self.name else f"[tool]\n{self.content}"
        lines = [f"[{self.role}]\n{self.content}"] if self.content or not self.tool_calls else []
        for call in self.tool_calls:
            arguments = json.dumps(call["arguments"], ensure_ascii=False)
            lines.append(f"[{self.role}] called {call['name']}({arguments})")
        return "\n".join(lines)


@dataclass
class Transcript:
    turns: list[Turn]
    truncated: bool = False  # something was elided for the token budget
    elided_turns: int = 0
    elided_at: int = 0  # index in turns where the elided turns were, for render()
    # What the readers could not make consistent (doubt.py), e.g. "3 user turns but 2 LLM calls".
    warnings: list[str] = field(default_factory=list)
    # The instrumentation scopes of the session's spans ("name version"), for a session with no content.
    scopes: list[str] = field(default_factory=list)

    @property
    def has_content(self) -> bool:
        return any(turn.content or turn.tool_calls for turn in self.turns)

    @property
    def no_content_explanation(self) -> str:
        """Why a session has nothing to judge, naming the scopes its spans came from: the libraries to
        turn content capture on in, or to read with transcript.mappings."""
        if not self.scopes:
            return "the session's spans carry no message content (content capture off?)"
        return (
            f"no message content in spans of scopes: {', '.join(self.scopes)} "
            "(content capture off, or an instrumentation to read with transcript.mappings)"
        )

    def to_dicts(self) -> list[dict[str, Any]]:
        return [turn.to_dict() for turn in self.turns]

    def render(self) -> str:
        blocks = [turn.render() for turn in self.turns]
        if self.elided_turns:
            blocks.insert(self.elided_at, elision_marker(self.elided_turns))
        return "\n\n".join(blocks)


def elision_marker(count: int) -> str:
    return f"[… {count} turns elided …]"
