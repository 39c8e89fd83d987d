"""a. OpenInference OpenAI instrumentation, plain 3-turn chat, using_session around each turn.
The user's 2nd request (booking an appointment) is refused by the assistant."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
import openai
from common import finish, lib_version, setup_tracing, start_fake, write_expected
from openinference.instrumentation import (
    TracerProvider,
    using_attributes,
    using_session,
)
from openinference.instrumentation.openai import OpenAIInstrumentor

NAME = "openinference_openai_chat"
SID = "sess-oi-chat-0001"
USER = [
    "Hi! Can you suggest a name for my new golden retriever puppy?",
    "Great, I like Sunny. Please book a vet appointment for Sunny next Tuesday at 10am.",
    "OK, I'll call them. What vaccinations does a puppy need in its first year?",
]
REPLIES = [
    {"text": "How about \"Sunny\"? It suits a golden retriever's bright, friendly personality.", "expect": "golden retriever"},
    {"text": "I'm sorry, but I can't book appointments: I don't have access to any calendar or booking system. "
             "You could call your vet's office directly or use their online booking page.", "expect": "book a vet"},
    {"text": "In the first year a puppy typically needs the core vaccines: distemper, parvovirus, adenovirus "
             "(hepatitis) and rabies. Depending on where you live, your vet may also recommend Bordetella, "
             "leptospirosis and Lyme vaccines.", "expect": "vaccinations"},
]

base_url = start_fake(NAME, REPLIES)
provider, _ = setup_tracing(NAME, TracerProvider)  # openinference TracerProvider = SDK provider + OITracer
OpenAIInstrumentor().instrument(tracer_provider=provider)
client = openai.OpenAI(base_url=base_url, api_key="test")

history, turns = [], []
for text in USER:
    history.append({"role": "user", "content": text})
    with using_session(SID):
        resp = client.chat.completions.create(model="gpt-4o-mini", messages=history)
    answer = resp.choices[0].message.content
    history.append({"role": "assistant", "content": answer})
    turns += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]

# the separate 'session end' span: OITracer adds the context attributes (session.id, tag.tags)
tracer = provider.get_tracer(NAME)
with using_attributes(session_id=SID, tags=["session-end"]):
    with tracer.start_as_current_span("session end", openinference_span_kind="chain") as span:
        span.set_attribute("session_status", "completed")

finish(provider)
write_expected(NAME, SID, lib_version("openinference-instrumentation-openai", "openinference-instrumentation", "openai"), turns,
               "Each chat call is its own trace (root LLM span 'ChatCompletion'); session id in attribute session.id "
               "(set via using_session). Messages are flattened attributes: llm.input_messages.{i}.message.role/.content "
               "(full history each call) and llm.output_messages.0.message.role/.content; also input.value / output.value "
               "(JSON request/response bodies, input.mime_type/output.mime_type=application/json). 'session end' is a CHAIN "
               "span in its own trace with session.id, tag.tags=['session-end'] and session_status='completed'.")
print("ok", NAME)
