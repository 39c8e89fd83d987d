"""Helpers shared by several test modules."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import set_span_in_context

from tests.support.spans import attrs_of


def goal_answer(resolved: list[str], unresolved: list[str]) -> dict:
    items = [{"intention": i, "evidence": "shown", "resolved": True} for i in resolved]
    items += [{"intention": i, "evidence": "refused", "resolved": False} for i in unresolved]
    return {"intentions": items, "explanation": "scripted verdict"}


TURNS = [
    ("Suggest a name for my puppy.", "How about Sunny?"),
    ("Book a vet appointment for Sunny.", "I'm sorry, I can't book appointments."),
    ("Which vaccines does a puppy need?", "Distemper, parvovirus, adenovirus and rabies."),
]


def make_provider(service_name: str, *endpoints: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    for endpoint in endpoints:
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    return provider


def send_session(provider: TracerProvider, session_id: str, *, id_on_root_only: bool = False, end_twice: bool = False):
    """One trace per turn, OpenInference attributes, the whole history on every LLM call."""
    tracer = provider.get_tracer("test-app")
    history: list[tuple[str, str]] = []
    for user, assistant in TURNS:
        history.append(("user", user))
        with tracer.start_as_current_span("chat_turn", attributes={"session.id": session_id}) as root:
            attrs = {"openinference.span.kind": "LLM"}
            if not id_on_root_only:
                attrs["session.id"] = session_id
            for i, (role, content) in enumerate(history):
                attrs[f"llm.input_messages.{i}.message.role"] = role
                attrs[f"llm.input_messages.{i}.message.content"] = content
            attrs["llm.output_messages.0.message.role"] = "assistant"
            attrs["llm.output_messages.0.message.content"] = assistant
            tracer.start_span("ChatCompletion", context=set_span_in_context(root), attributes=attrs).end()
        history.append(("assistant", assistant))
    end = tracer.start_span(
        "session end", attributes={"session.id": session_id, "session_status": "completed", "tag.tags": ["session-end"]}
    )
    end.end()
    if end_twice:
        # A retried export: the very same span bytes again.
        for processor in provider._active_span_processor._span_processors:  # noqa: SLF001
            processor.span_exporter.export([end])
    provider.force_flush()
    return end


# What the end-to-end tests read of carriers and their events.
span_attrs = event_attrs = attrs_of
