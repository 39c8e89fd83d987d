"""`collector-eval demo`: sends a built-in multi-turn chat session, recorded the way OpenInference
instruments an OpenAI app, through the OpenTelemetry SDK to a running service, then polls the control
API until the session's verdict is in and prints it."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

TENANT = "collector-eval-demo"
# Three requests, one of which the assistant cannot fulfil: goal completeness has something to find.
TURNS = [
    (
        "Hi! Can you suggest a name for my new golden retriever puppy?",
        'How about "Sunny"? It suits a golden retriever\'s bright, friendly personality.',
    ),
    (
        "Great, I like Sunny. Please book a vet appointment for Sunny next Tuesday at 10am.",
        "I'm sorry, but I can't book appointments: I don't have access to any calendar or booking system. "
        "You could call your vet's office directly or use their online booking page.",
    ),
    (
        "OK, I'll call them. What vaccinations does a puppy need in its first year?",
        "In the first year a puppy typically needs the core vaccines: distemper, parvovirus, adenovirus "
        "(hepatitis) and rabies. Your vet may also recommend Bordetella, leptospirosis and Lyme vaccines.",
    ),
]
POLL_INTERVAL_S = 0.5


def add_parser(sub) -> None:
    from collector_eval.cli.sessions import add_client_arguments
    from collector_eval.control.client import DEFAULT_ENDPOINT

    demo = sub.add_parser("demo", help="send a built-in chat session to a running service and print its verdict")
    demo.add_argument(
        "--endpoint", default="127.0.0.1:4317", help="the service's OTLP/gRPC receiver (default 127.0.0.1:4317)"
    )
    add_client_arguments(demo, DEFAULT_ENDPOINT, flag="--control-endpoint")
    demo.add_argument(
        "--timeout", type=float, default=120, metavar="SECONDS", help="how long to wait for the verdict (default 120)"
    )
    demo.add_argument(
        "--json", action="store_true", help="print the judged session as JSON instead of lines for people"
    )
    demo.set_defaults(run=run)


def build_session(tracer, session_id: str) -> None:
    """One trace per turn: a CHAIN root and an LLM span repeating the whole history, as OpenInference
    records a chat app; the last span carries the end marker in `tag.tags`."""
    from opentelemetry.trace import set_span_in_context

    history: list[tuple[str, str]] = []
    for user, assistant in TURNS:
        history.append(("user", user))
        with tracer.start_as_current_span(
            "chat_turn", attributes={"session.id": session_id, "openinference.span.kind": "CHAIN", "input.value": user}
        ) as root:
            attrs: dict[str, object] = {
                "session.id": session_id,
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
            }
            for i, (role, content) in enumerate(history):
                attrs[f"llm.input_messages.{i}.message.role"] = role
                attrs[f"llm.input_messages.{i}.message.content"] = content
            attrs["llm.output_messages.0.message.role"] = "assistant"
            attrs["llm.output_messages.0.message.content"] = assistant
            tracer.start_span("ChatCompletion", context=set_span_in_context(root), attributes=attrs).end()
            root.set_attribute("output.value", assistant)
        history.append(("assistant", assistant))
    tracer.start_span(
        "session end", attributes={"session.id": session_id, "tag.tags": ["session_status:completed"]}
    ).end()


def send(args: argparse.Namespace, token: str, session_id: str) -> int:
    """Records the session in memory, then exports it in one request: a refusal is reported, not logged away."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    from collector_eval.net.tls import channel_credentials

    recorded = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": TENANT}))
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    build_session(provider.get_tracer("collector-eval-demo"), session_id)
    provider.shutdown()
    spans = recorded.get_finished_spans()
    secure = args.tls or args.ca_file
    exporter = OTLPSpanExporter(
        endpoint=args.endpoint,
        insecure=not secure,
        credentials=channel_credentials(args.ca_file, "--ca-file") if secure else None,
        headers={"authorization": f"Bearer {token}"} if token else None,
        timeout=10,
    )
    try:
        if exporter.export(spans) is not SpanExportResult.SUCCESS:
            print(
                f"collector-eval: the service at {args.endpoint} did not accept the spans (see its log)",
                file=sys.stderr,
            )
            return 0
    finally:
        exporter.shutdown()
    return len(spans)


def run(args: argparse.Namespace) -> int:
    import grpc

    from collector_eval.cli.sessions import client_from, describe, token_of
    from collector_eval.control.convert import session_dict

    session_id = f"demo-{uuid.uuid4().hex[:12]}"
    sent = send(args, token_of(args), session_id)
    if not sent:
        return 1
    print(f"sent {sent} spans of session {session_id} (tenant {TENANT}) to {args.endpoint}", file=sys.stderr)
    print(f"waiting for its verdict (control API on {args.control_endpoint})", file=sys.stderr)
    deadline, state = time.monotonic() + args.timeout, ""
    with client_from(args, args.control_endpoint) as client:
        while time.monotonic() < deadline:
            try:
                session = client.get(TENANT, session_id)
            except grpc.RpcError as exc:
                # NOT_FOUND: not stored yet; UNAVAILABLE: the control API is starting or Redis is busy.
                if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                    print(f"collector-eval: {exc.code().name}: {exc.details()}", file=sys.stderr)
                    return 1
            else:
                found = session_dict(session)
                if found["state"] != state:
                    state = found["state"]
                    print(f"  {state}", file=sys.stderr)
                if found["verdicts"]:
                    print(json.dumps(found, ensure_ascii=False) if args.json else describe(found))
                    return 0
            time.sleep(POLL_INTERVAL_S)
    print(
        f"collector-eval: no verdict within {args.timeout:g} s (last state: {state or 'not buffered'}); see the service's log",
        file=sys.stderr,
    )
    return 1
