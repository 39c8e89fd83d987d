"""openlit: OpenLIT 1.45.0 (pip `openlit`) auto-instrumenting the openai client (chat completions, not streamed).

The app sets up its own OTel TracerProvider + LoggerProvider (BatchSpanProcessor / BatchLogRecordProcessor, OTLP/gRPC
to the sink, common.setup_tracing(logs=True)); openlit.init() detects and reuses both ("Detected existing
TracerProvider/LoggerProvider, reusing it"), so its spans AND its log records (event
gen_ai.client.inference.operation.details, emitted because disable_events is left False) reach the sink.
Content capture on (capture_message_content=True), metrics off (disable_metrics=True), pricing from a local file
(pricing_json=pricing.json, so nothing is fetched).  OpenLIT's other default instrumentors stay on, so the
openai client's httpx request is a child span of each chat span.

Session id: OpenLIT has no session API of its own for plain openai calls; its documented mechanism for
request-scoped attributes is `openlit.using_attributes({...})` (context manager; OpenLIT applies the
attributes to every span its instrumentors create and to the attributes of every event it emits), used
here with {"gen_ai.conversation.id": SID} around the whole session.  The app makes no spans per turn:
each model call is its own trace.  The tool (two parallel calls in turn 2) is executed by the app, untraced.
The session ends with an OTel span 'session end' (session_status=completed) made with the OTel tracer
inside the same using_attributes context.

Reproduce (from this folder):
    python3 -m venv /tmp/venv-openlit
    /tmp/venv-openlit/bin/pip install -r requirements.txt
    PORT=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
    /tmp/venv-openlit/bin/python ../recording/otlp_sink.py --port $PORT --out .. &
    FIXTURES=$(cd .. && pwd) FIXTURE_SINK=127.0.0.1:$PORT /tmp/venv-openlit/bin/python app.py
    /tmp/venv-openlit/bin/python ../recording/show.py otlp.json 200 > tree.txt
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "recording"))
import openai
import openlit
from common import finish, lib_version, setup_tracing, start_fake, write_expected
from opentelemetry import trace

NAME = "openlit"
SID = "conv-openlit-0005"
SYSTEM = "You are a friendly travel assistant for Japan."
TOOLS = [
    {"type": "function", "function": {"name": "get_forecast", "description": "Weather forecast for a city and day",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "day": {"type": "string"}},
                    "required": ["city", "day"]}}},
    {"type": "function", "function": {"name": "get_sunset", "description": "Sunset time for a city and day",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "day": {"type": "string"}},
                    "required": ["city", "day"]}}},
]
USER = [
    "I'm visiting Kyoto next month. Which temple should I not miss?",
    "Will it rain in Kyoto tomorrow, and what time is sunset?",
    "Great. Can you book me a table at a kaiseki restaurant for Friday night?",
]
REPLIES = [
    {"text": "Don't miss Fushimi Inari Taisha: thousands of vermilion torii gates up Mount Inari. Go early in the "
             "morning to avoid the crowds.", "expect": "temple"},
    {"tool_calls": [{"name": "get_forecast", "arguments": {"city": "Kyoto", "day": "tomorrow"}},
                    {"name": "get_sunset", "arguments": {"city": "Kyoto", "day": "tomorrow"}}], "expect": "sunset"},
    {"text": "Light rain is expected tomorrow afternoon in Kyoto (80% chance, 14 C), so pack an umbrella. "
             "Sunset is at 17:12.", "expect": "17:12"},
    {"text": "Sorry, I can't make restaurant reservations: I have no access to booking systems. You could book "
             "through the restaurant's website or ask your hotel concierge.", "expect": "book me a table"},
]
PRICING = HERE / "pricing.json"


def get_forecast(city, day):
    return f"{city} {day}: light rain in the afternoon, 14 C, 80% chance of rain."


def get_sunset(city, day):
    return f"Sunset in {city} {day}: 17:12."


TOOL_FUNCS = {"get_forecast": get_forecast, "get_sunset": get_sunset}

base_url = start_fake(NAME, REPLIES)
PRICING.write_text(json.dumps({"chat": {"gpt-4o-mini": {"promptPrice": 0.00015, "completionPrice": 0.0006}}}) + "\n")
tracer_provider, logger_provider = setup_tracing(NAME, logs=True)
openlit.init(service_name=NAME, environment="test", capture_message_content=True, disable_metrics=True,
             pricing_json=str(PRICING))
tracer = trace.get_tracer("app")  # the app's own tracer (scope "app")
client = openai.OpenAI(base_url=base_url, api_key="test")
history, turns = [{"role": "system", "content": SYSTEM}], []


def chat_turn(text):
    history.append({"role": "user", "content": text})
    turns.append({"role": "user", "content": text})
    while True:
        msg = client.chat.completions.create(model="gpt-4o-mini", messages=history, tools=TOOLS).choices[0].message
        history.append(msg.model_dump(exclude_none=True))
        if not msg.tool_calls:
            turns.append({"role": "assistant", "content": msg.content})
            return msg.content
        turns.append({"role": "assistant", "content": msg.content or "",
                      "tool_calls": [{"name": tc.function.name, "arguments": json.loads(tc.function.arguments)}
                                     for tc in msg.tool_calls]})
        for tc in msg.tool_calls:
            result = TOOL_FUNCS[tc.function.name](**json.loads(tc.function.arguments))  # a plain string
            history.append({"role": "tool", "tool_call_id": tc.id, "content": result})
            turns.append({"role": "tool", "content": result})


with openlit.using_attributes({"gen_ai.conversation.id": SID}):
    for text in USER:
        print(chat_turn(text))
    with tracer.start_as_current_span("session end") as span:
        span.set_attribute("session_status", "completed")
finish(tracer_provider, logger_provider)

notes = (
    "No app span per turn: EACH MODEL CALL IS ITS OWN TRACE (4 traces for 4 calls) + the 'session end' trace. Spans: root "
    "'chat gpt-4o-mini' (scope openlit.instrumentation.openai, kind CLIENT) with one child 'POST' (scope "
    "opentelemetry.instrumentation.httpx: http.method/url/status_code, NO conversation id, no content). Session id: "
    "gen_ai.conversation.id, set through openlit.using_attributes({'gen_ai.conversation.id': SID}); OpenLIT copies it onto "
    "the chat spans and into the attributes of its log records only, NOT onto the httpx child spans and NOT onto the app's "
    "'session end' span (made with the OTel tracer inside the same using_attributes context: it carries only "
    "session_status='completed', no session id; OpenLIT decorates only spans its own instrumentors create). "
    "Content, spans: JSON-STRING attributes on each chat span: gen_ai.input.messages (whole request history incl. the "
    "system message: [{role, parts:[{type:text, content} | {type:tool_call_response, id, response}]}]), "
    "gen_ai.output.messages ([{role:assistant, parts:[{type:text, content} | {type:tool_call, id, name, arguments(object)}], "
    "finish_reason}] with finish_reason 'stop' / 'tool_call' (singular; gen_ai.response.finish_reasons keeps OpenAI's "
    "'tool_calls')), gen_ai.system_instructions (JSON [{type:text, content}]). QUIRK: in later calls' gen_ai.input.messages "
    "the assistant's tool-calling message is DROPPED (it had no text content, so OpenLIT builds no parts and skips it): "
    "the history goes user -> tool -> tool; the tool calls are only in the output messages of the call that made them. "
    "Tool results are role 'tool' parts {type:tool_call_response, id (tool call id), response (exact result string)}. "
    "The tool-calling chat span also has gen_ai.tool.name = 'get_forecast, get_sunset' (COMMA-JOINED names), "
    "gen_ai.tool.call.id = 'call_0020, call_0021' and gen_ai.tool.args = the two JSON argument strings comma-joined "
    "(not valid JSON as a whole). No tool spans: the app runs the tools untraced. "
    "Content, log records (otlp_logs.json, scope openlit.instrumentation.openai): ONE record per chat call, "
    "eventName 'gen_ai.client.inference.operation.details' (LogRecord field only, no event.name attribute), body = empty "
    "string, linked to its chat span by traceId + spanId; everything is in the record ATTRIBUTES as STRUCTURED AnyValues "
    "(not JSON strings): gen_ai.input.messages / gen_ai.output.messages / gen_ai.system_instructions / "
    "gen_ai.tool.definitions are arrayValue of kvlistValue with the same {role, parts} shape as on the span (tool call "
    "arguments a kvlist object), plus gen_ai.conversation.id, model, usage, response id, finish reasons. Same drop of the "
    "assistant tool-call message. Content therefore appears twice (span attribute JSON + log attributes), and every call "
    "repeats the whole history. Other span attributes of note: gen_ai.usage.cost (from the local pricing.json), "
    "openlit.agent.version_hash, gen_ai.request.user = '' and service.name / deployment.environment / "
    "telemetry.sdk.name=openlit as SPAN attributes."
)
write_expected(NAME, SID, lib_version("openlit", "openai", "opentelemetry-sdk"), turns, notes)
print("ok", NAME)
