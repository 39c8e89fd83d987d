"""MLflow 3 tracing exported over OTLP: every MLflow span carries `mlflow.spanType`, and MLflow
JSON-encodes every `mlflow.*` value (`"\\"CHAT_MODEL\\""`), so each is decoded once. Chat-model spans of
the OpenAI autolog hold the request kwargs as `mlflow.spanInputs` (`{messages, model, tools}`, OpenAI
chat format) and the ChatCompletion as `mlflow.spanOutputs`; TOOL spans are tool runs. Agent, chain and
other spans wrap the model calls and repeat what they say, so they are claimed as holding nothing new.

With MLFLOW_ENABLE_OTEL_GENAI_SEMCONV, MLflow drops the `mlflow.*` keys for GenAI ones: those spans are
not claimed here and the GenAI reader reads them."""

from __future__ import annotations

from collector_eval.evaluation.transcript.messages import Message, SpanRecord, ToolRun, as_text, json_value
from collector_eval.evaluation.transcript.openai_chat import chat_messages

_MODEL_CALLS = ("CHAT_MODEL", "LLM")


def messages(span: SpanRecord) -> tuple[list[Message], list[Message]] | None:
    """None: not this convention's span. ([], []): its span, with nothing to read (a wrapper span)."""
    attrs = span.attributes
    if "mlflow.spanType" not in attrs:
        return None
    if json_value(attrs.get("mlflow.spanType")) not in _MODEL_CALLS:
        return [], []
    request = json_value(attrs.get("mlflow.spanInputs"))
    if isinstance(request, dict):
        request = request.get("messages")
    reply = json_value(attrs.get("mlflow.spanOutputs"))
    if isinstance(reply, dict) and isinstance(reply.get("choices"), list):  # a ChatCompletion: its first choice
        reply = next((c.get("message") for c in reply["choices"] if isinstance(c, dict)), None)
    if isinstance(reply, str):  # a model call traced by hand that returns its text
        outputs = [Message("assistant", reply)]
    else:
        outputs = chat_messages([reply])
    return chat_messages(request), outputs


def tool_run(span: SpanRecord) -> ToolRun:
    """A TOOL span is named after the tool function; it records no call id. Its output is the tool's
    return value, JSON-encoded by MLflow: a string result is what the model was given."""
    attrs = span.attributes
    if json_value(attrs.get("mlflow.spanType")) != "TOOL":
        return ToolRun("", None, None)
    raw = attrs.get("mlflow.spanOutputs")
    result = json_value(raw)
    if result is None:
        return ToolRun(span.name, None, None)
    return ToolRun(span.name, None, result if isinstance(result, str) else as_text(raw))
