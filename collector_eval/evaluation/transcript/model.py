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

    @property
    def has_content(self) -> bool:
        return any(turn.content or turn.tool_calls for turn in self.turns)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [turn.to_dict() for turn in self.turns]

    def render(self) -> str:
        blocks = [turn.render() for turn in self.turns]
        if self.elided_turns:
            blocks.insert(self.elided_at, elision_marker(self.elided_turns))
        return "\n\n".join(blocks)


def elision_marker(count: int) -> str:
    return f"[… {count} turns elided …]"
