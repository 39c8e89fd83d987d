"""Rebuilds the conversation of a session from its spans.

Instrumentations record messages in one of three shapes (OpenInference flattened attributes, OTel
GenAI JSON attributes, OpenLLMetry's older flattened `gen_ai.prompt.*` / `gen_ai.completion.*`),
and every LLM call repeats the history before it. Each LLM span is read as one message sequence
(its input followed by its output) and merged into the running history, so repeated history is
kept once. Tool spans only fill in results the model's own inputs never showed. What cannot be made
consistent is recorded as warnings (doubt.py), and the scopes seen are kept for a session in which no
reader found any content, so that its user knows which library to map (transcript.mappings).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from collector_eval.evaluation.transcript import doubt
from collector_eval.evaluation.transcript.messages import Call, Message, SpanRecord, ToolRun, span_records
from collector_eval.evaluation.transcript.model import Transcript, Turn
from collector_eval.evaluation.transcript.options import TranscriptConfig
from collector_eval.evaluation.transcript.readers import READERS, Reader, llm_messages, tool_run, with_mappings

_ROLES = {
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    # aliases other SDKs and frameworks write
    "human": "user",
    "ai": "assistant",
    "model": "assistant",
    "function": "tool",
}


def build_transcript(
    resource_spans: Iterable[ResourceSpans],
    resource_logs: Iterable[ResourceLogs] = (),
    config: TranscriptConfig | None = None,
) -> Transcript:
    """The conversation in all spans (and log records) of one session, from any number of traces, in any
    order; read with the config's mappings first, where it has any."""
    readers = readers_for(config)
    spans = span_records(resource_spans, resource_logs)
    history: list[Message] = []
    runs: list[ToolRun] = []
    unknown: dict[str, set[str]] = {}
    calls = 0
    for span in spans:
        inputs, outputs = llm_messages(span, readers)
        if inputs or outputs:
            calls += 1
            _merge(history, _normalize(inputs + outputs, unknown))
        run = tool_run(span, readers)
        if run is not None:
            runs.append(run)
    history = _fill_tool_results(history, runs)
    # Scope names and versions, once each, in the order spans started.
    scopes = list(dict.fromkeys(span.scope_label for span in spans if span.scope))
    return Transcript(_to_turns(history), warnings=doubt.warnings(history, calls, unknown), scopes=scopes)


def readers_for(config: TranscriptConfig | None) -> tuple[Reader, ...]:
    return with_mappings(config.mappings) if config is not None and config.mappings else READERS


def span_messages(span: SpanRecord, readers: tuple[Reader, ...] = READERS) -> tuple[list[Turn], list[Turn]]:
    """One LLM span's input and output messages, as turns (system prompts left out); none for others."""
    inputs, outputs = llm_messages(span, readers)
    return _to_turns(_normalize(inputs)), _to_turns(_normalize(outputs))


def _normalize(sequence: list[Message], unknown: dict[str, set[str]] | None = None) -> list[Message]:
    """Drops system prompts and unknown roles (noting the latter in `unknown`: role -> message keys);
    joins an assistant reply split over several items.

    The Responses API (and OpenInference's rendering of it) gives each function call its own
    assistant item in the history but one output message for all of them, so calls-only assistant
    messages are folded into the assistant message just before them.
    """
    out: list[Message] = []
    for msg in sequence:
        role = _ROLES.get(msg.role.lower())
        if role is None:
            if unknown is not None and msg.role.lower() not in doubt.IGNORED_ROLES:
                unknown.setdefault(msg.role, set()).add(msg.key)
            continue
        calls_only = role == "assistant" and msg.calls and not msg.content
        if calls_only and out and out[-1].role == "assistant":
            out[-1] = replace(out[-1], calls=out[-1].calls + msg.calls)
        else:
            out.append(msg if role == msg.role else replace(msg, role=role))
    return out


def _merge(history: list[Message], sequence: list[Message]) -> None:
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
    elif common < len(known):
        common = _skipping(known, seen, common)
    # A span that diverges after a common start (a regenerated reply, a side call) adds its new
    # messages at the end rather than rewriting what is known.
    history.extend(sequence[common:])


def _skipping(known: list[str], seen: list[str], common: int) -> int:
    """How much of `seen` repeats the history when it leaves some known messages out (OpenLIT's later
    inputs drop the assistant's tool-call message): the rest of `seen` must find its messages in the
    rest of the history, in order, up to the last one. Else `common` is all it repeats."""
    at, matched = common, common
    while matched < len(seen) and at < len(known):
        try:
            at = known.index(seen[matched], at) + 1
        except ValueError:
            break
        matched += 1
    return matched if at == len(known) else common


def _fill_tool_results(history: list[Message], runs: list[ToolRun]) -> list[Message]:
    """Adds a tool turn, from its tool span, for each call whose result no LLM input showed.

    Every call consumes its tool span (by call id, else the first unused span of that tool), answered
    or not, so that a tool called several times is paired with the right execution.
    """
    unused = list(runs)
    out: list[Message] = []
    i = 0
    while i < len(history):
        msg = history[i]
        end = i + 1
        while end < len(history) and history[end].role == "tool":
            end += 1
        out += history[i:end]
        if msg.role == "assistant" and msg.calls:
            answers = history[i + 1 : end]
            answer_ids = [a.answers for a in answers if a.answers]
            for k, call in enumerate(msg.calls):
                run = _take_run(unused, call)
                answered = call.id in answer_ids if answer_ids else k < len(answers)
                if not answered and run is not None and run.result is not None:
                    out.append(Message("tool", run.result, answers=call.id))
        i = end
    return out


def _take_run(unused: list[ToolRun], call: Call) -> ToolRun | None:
    # By call id; else the first run of that tool, one with the call's arguments first (where a mapping
    # reads a run's arguments, a tool called twice without ids is paired with the right execution).
    by_name = [r for r in unused if r.name == call.name and not (r.id and call.id)]
    match = (
        next((r for r in unused if call.id and r.id == call.id), None)
        or next((r for r in by_name if r.arguments is not None and r.arguments == call.arguments), None)
        or next(iter(by_name), None)
    )
    if match is not None:
        unused.remove(match)
    return match


def _to_turns(history: list[Message]) -> list[Turn]:
    turns: list[Turn] = []
    pending: list[Call] = []  # the last assistant's calls not yet answered, for tool turn names
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
