"""Rebuilds the conversation of a session from its spans.

Instrumentations record messages in one of three shapes (OpenInference flattened attributes, OTel
GenAI JSON attributes, OpenLLMetry's older flattened `gen_ai.prompt.*` / `gen_ai.completion.*`),
and every LLM call repeats the history before it. Each LLM span is read as one message sequence
(its input followed by its output) and merged into the running history, so repeated history is
kept once. Tool spans only fill in results the model's own inputs never showed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator, Mapping

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from collector_eval.tokens import count_tokens, head_and_tail

_ROLES = {"user": "user", "assistant": "assistant", "tool": "tool",
          # aliases other SDKs and frameworks write
          "human": "user", "ai": "assistant", "model": "assistant", "function": "tool"}


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
            blocks.insert(self.elided_at, _elision_marker(self.elided_turns))
        return "\n\n".join(blocks)


def elide(transcript: Transcript, max_tokens: int) -> Transcript:
    """Fits a transcript into max_tokens (as count_tokens of render()).

    Any turn longer than a quarter of the budget is shortened first (a tool's output, or a message
    someone pasted a book into: the first and last turns are always kept, so they must fit); then,
    if still over, turns are dropped from the middle.
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    turns = [_shorten(turn, max_tokens) for turn in transcript.turns]
    shortened = any(new is not old for new, old in zip(turns, transcript.turns))
    whole = replace(transcript, turns=turns, truncated=transcript.truncated or shortened)
    if len(turns) <= 2 or count_tokens(whole.render()) <= max_tokens:
        return whole

    # Grow a kept head and tail alternately towards the middle while they fit; the marker's size
    # is taken for the largest count, so the sum never goes over the budget.
    sizes = [count_tokens(turn.render()) + 1 for turn in turns]  # + the blank line between blocks
    used = sizes[0] + sizes[-1] + count_tokens(_elision_marker(len(turns)))
    lo, hi = 1, len(turns) - 2  # the dropped block is turns[lo:hi + 1]
    from_head = True
    while lo <= hi:
        head_fits = used + sizes[lo] <= max_tokens
        tail_fits = used + sizes[hi] <= max_tokens
        if head_fits and (from_head or not tail_fits):
            used += sizes[lo]
            lo += 1
        elif tail_fits:
            used += sizes[hi]
            hi -= 1
        else:
            break
        from_head = not from_head
    # At least one turn is dropped: all of them plus the marker would be over the budget. Tokens of
    # joined text are not always the sum of the parts', so the result is counted again as a whole.
    while True:
        out = Transcript(turns[:lo] + turns[hi + 1:], truncated=True,
                         elided_turns=transcript.elided_turns + hi - lo + 1, elided_at=lo)
        if (lo == 1 and hi == len(turns) - 2) or count_tokens(out.render()) <= max_tokens:
            return out
        if lo - 1 >= len(turns) - 2 - hi:
            lo -= 1
        else:
            hi += 1


def _elision_marker(count: int) -> str:
    return f"[… {count} turns elided …]"


def _shorten(turn: Turn, max_tokens: int) -> Turn:
    text = turn.content
    quarter = max_tokens // 4
    # A token spans at least one character: ends of quarter * 8 characters each hold more tokens
    # than are kept, and spare tokenizing megabytes that would be cut anyway.
    if len(text) > quarter * 16:
        text = text[: quarter * 8] + text[-quarter * 8 :]
    if count_tokens(text) <= quarter:
        return turn
    # Keep both ends, as a result's outcome is as often at the end as at the start; two tokens of
    # slack for the joins, where the text is cut and the marker goes in.
    original = len(turn.content)
    keep = max(quarter - count_tokens(f"…[{original} chars elided]") - 2, 0)
    head, tail = head_and_tail(text, keep)
    return replace(turn, content=f"{head}…[{original - len(head) - len(tail)} chars elided]{tail}")


def build_transcript(resource_spans: Iterable[ResourceSpans]) -> Transcript:
    """The conversation in all spans of one session, from any number of traces, in any order."""
    spans = sorted(iter_spans(resource_spans),
                   key=lambda s: (s.start_time_unix_nano, s.end_time_unix_nano))
    history: list[_Msg] = []
    runs: list[ToolRun] = []
    for span in spans:
        attrs = span_attributes(span)
        inputs, outputs = _llm_messages(attrs)
        if inputs or outputs:
            _merge(history, _normalize(inputs + outputs))
        run = tool_run(attrs)
        if run is not None:
            runs.append(run)
    return Transcript(_to_turns(_fill_tool_results(history, runs)))


def span_attributes(span: Span) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in span.attributes}


def span_messages(attrs: Mapping[str, Any]) -> tuple[list[Turn], list[Turn]]:
    """One LLM span's input and output messages, as turns (system prompts left out); none for others."""
    inputs, outputs = _llm_messages(attrs)
    return _to_turns(_normalize(inputs)), _to_turns(_normalize(outputs))


# -- internal message model -------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    id: str | None
    name: str
    arguments: Any


@dataclass(frozen=True)
class _Msg:
    role: str
    content: str
    calls: tuple[_Call, ...] = ()
    answers: str | None = None  # a tool message: the id of the call it answers
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Identity across spans: ids are left out, as not every shape records them everywhere.
        calls = [[call.name, call.arguments] for call in self.calls]
        key = json.dumps([self.role, self.content, calls], sort_keys=True, default=str)
        object.__setattr__(self, "key", key)


@dataclass(frozen=True)
class ToolRun:
    name: str
    id: str | None
    result: str | None


def iter_spans(resource_spans: Iterable[ResourceSpans]) -> Iterator[Span]:
    for rs in resource_spans:
        for ss in rs.scope_spans:
            yield from ss.spans


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def indexed(attrs: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Groups `{prefix}.{i}.{rest}` keys into one {rest: value} dict per i, in index order."""
    groups: dict[int, dict[str, Any]] = {}
    start = prefix + "."
    for key, value in attrs.items():
        if key.startswith(start):
            index, _, rest = key[len(start):].partition(".")
            if index.isdigit() and rest:
                groups.setdefault(int(index), {})[rest] = value
    return [groups[i] for i in sorted(groups)]


def parse_arguments(raw: Any) -> Any:
    """Tool-call arguments as recorded (mostly a JSON string) as a value; unparseable text stays text."""
    # Missing arguments mean none (OpenInference leaves out "{}").
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _llm_messages(attrs: Mapping[str, Any]) -> tuple[list[_Msg], list[_Msg]]:
    """A span's input messages and output messages."""
    if "gen_ai.input.messages" in attrs or "gen_ai.output.messages" in attrs:
        return (_genai_messages(attrs.get("gen_ai.input.messages"), output=False),
                _genai_messages(attrs.get("gen_ai.output.messages"), output=True))
    inputs = indexed(attrs, "llm.input_messages")
    # Every output message: for the Responses API they are a reply's items, not alternative choices.
    outputs = indexed(attrs, "llm.output_messages")
    if inputs or outputs:
        return ([_openinference_message(m, "user") for m in inputs],
                [_openinference_message(m, "assistant") for m in outputs])
    prompts = indexed(attrs, "gen_ai.prompt")
    completions = indexed(attrs, "gen_ai.completion")[:1]  # the others are alternative choices
    return ([_flat_message(m, "user") for m in prompts],
            [_flat_message(m, "assistant") for m in completions])


def _genai_messages(raw: Any, output: bool) -> list[_Msg]:
    """OTel GenAI `[{role, parts: [...]}]`; output messages are alternative choices: first only."""
    try:
        messages = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:  # e.g. cut by an attribute length limit: nothing usable
        return []
    if not isinstance(messages, list):
        return []
    out: list[_Msg] = []
    for message in messages[:1] if output else messages:
        if not isinstance(message, dict):
            continue
        texts: list[str] = []
        calls: list[_Call] = []
        responses: list[_Msg] = []
        for part in message.get("parts") or []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(as_text(part.get("content")))
            elif kind == "tool_call":
                arguments = parse_arguments(part.get("arguments"))
                calls.append(_Call(part.get("id"), as_text(part.get("name")), arguments))
            elif kind == "tool_call_response":
                responses.append(_Msg("tool", as_text(part.get("response")), answers=part.get("id")))
        out += responses
        if texts or calls or not responses:
            role = message.get("role") or ("assistant" if output else "")
            out.append(_Msg(as_text(role), "\n".join(texts), tuple(calls)))
    return out


def _openinference_message(m: Mapping[str, Any], default_role: str) -> _Msg:
    content = m.get("message.content")
    if content is None:  # Responses-API history carries text only as message.contents
        content = "\n".join(as_text(c["message_content.text"])
                            for c in indexed(m, "message.contents") if "message_content.text" in c)
    calls = tuple(_Call(c.get("tool_call.id"), as_text(c.get("tool_call.function.name")),
                        parse_arguments(c.get("tool_call.function.arguments")))
                  for c in indexed(m, "message.tool_calls"))
    role = as_text(m.get("message.role") or default_role)
    return _Msg(role, as_text(content), calls, m.get("message.tool_call_id"))


def _flat_message(m: Mapping[str, Any], default_role: str) -> _Msg:
    """OpenLLMetry's `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*` (before the JSON attributes)."""
    content = m.get("content")
    if content is None:
        content = m.get("refusal")
    calls = tuple(_Call(c.get("id"), as_text(c.get("name")), parse_arguments(c.get("arguments")))
                  for c in indexed(m, "tool_calls"))
    role = as_text(m.get("role") or default_role)
    return _Msg(role, _flat_content(content), calls, m.get("tool_call_id"))


def _flat_content(content: Any) -> str:
    # Multi-part content (text plus images) is recorded as the JSON of the parts list.
    if isinstance(content, str) and content.startswith("[{"):
        try:
            parts = json.loads(content)
        except json.JSONDecodeError:
            return content
        if isinstance(parts, list) and all(isinstance(p, dict) and "type" in p for p in parts):
            return "\n".join(as_text(p.get("text")) for p in parts if p["type"] == "text")
    return as_text(content)


def _normalize(sequence: list[_Msg]) -> list[_Msg]:
    """Drops system prompts and unknown roles; joins an assistant reply split over several items.

    The Responses API (and OpenInference's rendering of it) gives each function call its own
    assistant item in the history but one output message for all of them, so calls-only assistant
    messages are folded into the assistant message just before them.
    """
    out: list[_Msg] = []
    for msg in sequence:
        role = _ROLES.get(msg.role.lower())
        if role is None:
            continue
        calls_only = role == "assistant" and msg.calls and not msg.content
        if calls_only and out and out[-1].role == "assistant":
            out[-1] = replace(out[-1], calls=out[-1].calls + msg.calls)
        else:
            out.append(msg if role == msg.role else replace(msg, role=role))
    return out


def _merge(history: list[_Msg], sequence: list[_Msg]) -> None:
    """Adds what a span's messages say beyond the history already known."""
    known = [m.key for m in history]
    seen = [m.key for m in sequence]
    common = 0
    while common < min(len(known), len(seen)) and known[common] == seen[common]:
        common += 1
    if common == 0 and known:
        # Not the same start: a sliding window begins inside the history (longest overlap wins);
        # with no overlap at all the span is a history of its own (an app that sends no history).
        overlaps = (k for k in range(min(len(known), len(seen)), 0, -1) if known[-k:] == seen[:k])
        common = next(overlaps, 0)
    # A span that diverges after a common start (a regenerated reply, a side call) adds its new
    # messages at the end rather than rewriting what is known.
    history.extend(sequence[common:])


def tool_run(attrs: Mapping[str, Any]) -> ToolRun | None:
    """A tool execution span: OpenInference TOOL, OTel GenAI execute_tool, or a Traceloop tool task."""
    traceloop_tool = attrs.get("traceloop.span.kind") == "tool"
    name = attrs.get("gen_ai.tool.name")
    if not name and attrs.get("openinference.span.kind") == "TOOL":
        name = attrs.get("tool.name")
    if not name and traceloop_tool:
        name = attrs.get("traceloop.entity.name")
    if not name:
        return None
    result = attrs.get("gen_ai.tool.call.result")
    if result is None:
        result = attrs.get("output.value")
    if result is None and traceloop_tool and isinstance(attrs.get("traceloop.entity.output"), str):
        result = _traceloop_output(attrs["traceloop.entity.output"])
    call_id = attrs.get("gen_ai.tool.call.id") or attrs.get("tool_call.id")
    return ToolRun(as_text(name), call_id, None if result is None else as_text(result))


def _traceloop_output(raw: str) -> str:
    # Traceloop JSON-encodes the task's return value; a returned string is what the model saw.
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return value if isinstance(value, str) else raw


def _fill_tool_results(history: list[_Msg], runs: list[ToolRun]) -> list[_Msg]:
    """Adds a tool turn, from its tool span, for each call whose result no LLM input showed.

    Every call consumes its tool span (by call id, else the first unused span of that tool), answered
    or not, so that a tool called several times is paired with the right execution.
    """
    unused = list(runs)
    out: list[_Msg] = []
    i = 0
    while i < len(history):
        msg = history[i]
        end = i + 1
        while end < len(history) and history[end].role == "tool":
            end += 1
        out += history[i:end]
        if msg.role == "assistant" and msg.calls:
            answers = history[i + 1:end]
            answer_ids = [a.answers for a in answers if a.answers]
            for k, call in enumerate(msg.calls):
                run = _take_run(unused, call)
                answered = call.id in answer_ids if answer_ids else k < len(answers)
                if not answered and run is not None and run.result is not None:
                    out.append(_Msg("tool", run.result, answers=call.id))
        i = end
    return out


def _take_run(unused: list[ToolRun], call: _Call) -> ToolRun | None:
    match = next((r for r in unused if call.id and r.id == call.id), None) or next(
        (r for r in unused if r.name == call.name and not (r.id and call.id)), None)
    if match is not None:
        unused.remove(match)
    return match


def _to_turns(history: list[_Msg]) -> list[Turn]:
    turns: list[Turn] = []
    pending: list[_Call] = []  # the last assistant's calls not yet answered, for tool turn names
    for msg in history:
        name = ""
        if msg.role == "assistant":
            pending = list(msg.calls)
        elif msg.role == "tool" and pending:
            call = next((c for c in pending if msg.answers and c.id == msg.answers), pending[0])
            pending.remove(call)
            name = call.name
        calls = [{"name": call.name, "arguments": call.arguments} for call in msg.calls]
        turns.append(Turn(msg.role, msg.content, calls, name=name))
    return turns
