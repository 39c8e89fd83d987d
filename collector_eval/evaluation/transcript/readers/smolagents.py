"""smolagents through OpenInference (scope `openinference.instrumentation.smolagents`).

An LLM span's `llm.input_messages` (OpenInference's flattened shape, read by the openinference reader)
hold smolagents' memory as smolagents keeps it, with its own roles and text prefixes:
- `user` 'New task:\\n<text>' (a TaskStep; later user text, e.g. after a plan, has no prefix);
- `tool-call` 'Calling tools:\\n' + the Python repr (str(), not JSON) of [{id, type, function: {name,
  arguments}}]: the calls the model made, read with ast.literal_eval;
- `tool-response` 'Observation:\\n<result>' (the tool results joined by newlines), or an error
  'Call id: <id>\\nError:\\n...' / 'Error:\\n...'.
Every run ends with a call of the built-in `final_answer` tool, whose `answer` argument is the reply to
the user: it is read as assistant text (in the span's output and in later histories alike, so that the
histories of later runs match), and its 'Observation' echo is left out. AGENT, CHAIN (one per step) and
TOOL spans repeat what the LLM spans hold: claimed with nothing to add; TOOL spans still give tool runs
through the openinference reader."""

from __future__ import annotations

import ast
from typing import Any

from collector_eval.evaluation.transcript.messages import Call, Message, SpanRecord, ToolRun, as_text
from collector_eval.evaluation.transcript.readers import openinference

SCOPE = "openinference.instrumentation.smolagents"
_ROLES = {"tool-call", "tool-response"}  # smolagents' MessageRole.TOOL_CALL / TOOL_RESPONSE
_TASK = "New task:\n"
_CALLS = "Calling tools:\n"
_OBSERVATION = "Observation:\n"
_CALL_ID = "Call id: "
_FINAL = "final_answer"
_MESSAGE_REPR = "ChatMessage(role=<MessageRole."
_CODE = "python_interpreter"  # CodeAgent records the code it ran as a call of this name, with the code as text


def messages(span: SpanRecord) -> tuple[list[Message], list[Message]] | None:
    found = openinference.messages(span)
    if not _ours(span, found):
        return None
    if found is None:
        return [], []  # AGENT / CHAIN / TOOL: the run's task and answer, the step's output, already in LLM spans
    inputs, outputs = found
    return _history(inputs), [m for out in outputs for m in _reply(out)]


def _ours(span: SpanRecord, found: tuple[list[Message], list[Message]] | None) -> bool:
    """Its scope; or, where spans reach us without it, its own marks: the memory's roles, the repr of
    smolagents' ChatMessage objects in an LLM span's input.value, the `smolagents.*` keys of an AGENT span."""
    if span.scope == SCOPE or any(key.startswith("smolagents.") for key in span.attributes):
        return True
    if found is None:
        return False
    return any(m.role in _ROLES for m in found[0]) or _MESSAGE_REPR in as_text(span.attributes.get("input.value"))


def tool_run(span: SpanRecord) -> ToolRun:
    # TOOL spans (tool.name, output.value) are OpenInference's; the openinference reader reads them.
    return ToolRun("", None, None)


def _reply(msg: Message) -> list[Message]:
    """An assistant message as smolagents' memory will show it again: its text, its tool calls, and the
    final answer as a text message of its own (as the later `tool-call` of final_answer is read)."""
    if msg.role != "assistant":
        return [msg]
    out = [Message("assistant", msg.content)] if msg.content else []
    calls = tuple(c for c in msg.calls if c.name != _FINAL)
    if calls:
        out.append(Message("assistant", "", calls))
    out += [Message("assistant", _answer(c.arguments)) for c in msg.calls if c.name == _FINAL]
    return out


def _history(inputs: list[Message]) -> list[Message]:
    out: list[Message] = []
    pending: tuple[Call, ...] = ()  # the last tool-call message's calls, final_answer left out
    echo = False  # the last tool-call message called final_answer: its observation repeats the answer
    for msg in inputs:
        if msg.role == "tool-call":
            calls = _calls(msg.content)
            if calls is None:  # not the repr smolagents writes: kept as the text the model was shown
                out.append(Message("assistant", msg.content))
                pending, echo = (), False
                continue
            if calls and all(c.name == _CODE and isinstance(c.arguments, str) for c in calls):
                calls = []  # CodeAgent: the code the model wrote in its text, parsed; not a call the model made
            pending, echo = tuple(c for c in calls if c.name != _FINAL), any(c.name == _FINAL for c in calls)
            out += _reply(Message("assistant", "", tuple(calls)))
        elif msg.role == "tool-response":
            out += _response(msg.content, pending, echo)
        else:
            pending, echo = (), False
            text = msg.content.removeprefix(_TASK) if msg.role == "user" else msg.content
            out.append(Message(msg.role, text, msg.calls, msg.answers))
    return out


def _response(text: str, pending: tuple[Call, ...], echo: bool) -> list[Message]:
    """A tool-response: the result of the one pending call as a tool message. Several parallel calls
    share one observation (results joined by newlines, which results may contain too): it is left out,
    and the builder takes each call's result from its TOOL span. What answers no call (an error before
    any call, CodeAgent's execution logs) is what the model got as a user message (OpenAIServerModel
    sends tool-response as user)."""
    if text.startswith(_OBSERVATION):
        if len(pending) == 1:
            return [Message("tool", text.removeprefix(_OBSERVATION), answers=pending[0].id)]
        if pending or echo:
            return []
    elif text.startswith(_CALL_ID):
        call_id, _, error = text[len(_CALL_ID) :].partition("\n")
        if any(c.id == call_id for c in pending):
            return [Message("tool", error, answers=call_id)]
    return [Message("user", text)]


def _calls(text: str) -> list[Call] | None:
    if not text.startswith(_CALLS):
        return None
    try:
        raw = ast.literal_eval(text[len(_CALLS) :].strip())  # a Python literal, never code: no eval
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(raw, list) or not all(isinstance(c, dict) and isinstance(c.get("function"), dict) for c in raw):
        return None
    return [
        Call(c.get("id"), as_text(c["function"].get("name")), _arguments(c["function"].get("arguments"))) for c in raw
    ]


def _arguments(raw: Any) -> Any:
    # Missing arguments mean none, as OpenInference's output tool calls leave out "{}".
    return {} if raw is None or raw == "" else raw


def _answer(arguments: Any) -> str:
    """final_answer's `answer` argument (a model may pass the answer as the whole argument)."""
    answer = arguments.get("answer") if isinstance(arguments, dict) and "answer" in arguments else arguments
    return as_text(answer)
