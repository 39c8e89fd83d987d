"""b. OpenInference OpenAI instrumentation with function calling. Each user turn runs inside a CHAIN
span (using_session around it); tools run inside OpenInference TOOL spans."""
import json
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

NAME = "openinference_openai_tools"
SID = "sess-oi-tools-0002"

WEATHER = {"Paris": ("partly cloudy", 18), "Tokyo": ("sunny", 24), "London": ("light rain", 14)}


def get_weather(city):
    cond, temp = WEATHER[city]
    return {"city": city, "condition": cond, "temperature_c": temp}


def convert_currency(amount, **kw):  # arguments: amount, from, to ("from" is a Python keyword)
    rate = {("USD", "EUR"): 0.92}[(kw["from"], kw["to"])]
    return {"amount": amount, "from": kw["from"], "to": kw["to"], "rate": rate, "result": round(amount * rate, 2)}


TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "convert_currency", "description": "Convert an amount between currencies",
     "parameters": {"type": "object", "properties": {"amount": {"type": "number"}, "from": {"type": "string"},
                                                     "to": {"type": "string"}},
                    "required": ["amount", "from", "to"]}}},
]
IMPL = {"get_weather": get_weather, "convert_currency": convert_currency}

USER = [
    "What's the weather in Paris right now?",
    "How much is 250 US dollars in euros?",
    "And what about the weather in Tokyo and London?",
    "Thanks, that's all I needed!",
]
REPLIES = [
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}], "expect": "Paris"},
    {"text": "It's currently 18°C and partly cloudy in Paris.", "expect": "partly cloudy"},
    {"tool_calls": [{"name": "convert_currency", "arguments": {"amount": 250, "from": "USD", "to": "EUR"}}],
     "expect": "250 US dollars"},
    {"text": "250 US dollars is about 230.00 euros (at a rate of 0.92 EUR per USD).", "expect": "230.0"},
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Tokyo"}},
                    {"name": "get_weather", "arguments": {"city": "London"}}], "expect": "Tokyo and London"},
    {"text": "Tokyo is sunny at 24°C, while London has light rain at 14°C.", "expect": "London"},
    {"text": "You're welcome! Have a great trip.", "expect": "Thanks"},
]

base_url = start_fake(NAME, REPLIES)
provider, _ = setup_tracing(NAME, TracerProvider)
OpenAIInstrumentor().instrument(tracer_provider=provider)
tracer = provider.get_tracer(NAME)
client = openai.OpenAI(base_url=base_url, api_key="test")

history, turns = [], []
for text in USER:
    history.append({"role": "user", "content": text})
    turns.append({"role": "user", "content": text})
    with using_session(SID), tracer.start_as_current_span("handle_user_message", openinference_span_kind="chain") as turn:
        turn.set_input(text)
        while True:
            msg = client.chat.completions.create(model="gpt-4o-mini", messages=history, tools=TOOLS).choices[0].message
            history.append(msg.model_dump(exclude_none=True))
            if not msg.tool_calls:
                turns.append({"role": "assistant", "content": msg.content})
                turn.set_output(msg.content)
                break
            turns.append({"role": "assistant", "content": msg.content or "",
                          "tool_calls": [{"name": tc.function.name, "arguments": json.loads(tc.function.arguments)}
                                         for tc in msg.tool_calls]})
            for tc in msg.tool_calls:
                with tracer.start_as_current_span(tc.function.name, openinference_span_kind="tool") as tspan:
                    spec = next(t["function"] for t in TOOLS if t["function"]["name"] == tc.function.name)
                    tspan.set_tool(name=spec["name"], description=spec["description"], parameters=spec["parameters"])
                    tspan.set_attribute("tool_call.id", tc.id)
                    tspan.set_input(tc.function.arguments, mime_type="application/json")
                    result = json.dumps(IMPL[tc.function.name](**json.loads(tc.function.arguments)))
                    tspan.set_output(result, mime_type="application/json")
                history.append({"role": "tool", "tool_call_id": tc.id, "content": result})
                turns.append({"role": "tool", "content": result})

with using_attributes(session_id=SID, tags=["session-end"]):
    with tracer.start_as_current_span("session end", openinference_span_kind="chain") as span:
        span.set_attribute("session_status", "completed")

finish(provider)
write_expected(NAME, SID, lib_version("openinference-instrumentation-openai", "openinference-instrumentation", "openai"), turns,
               "One trace per user turn: root CHAIN span 'handle_user_message' (input.value=user text, output.value=final "
               "answer) > LLM spans 'ChatCompletion' and TOOL spans named after the tool. session.id is on every span "
               "(using_session context). LLM messages: llm.input_messages.{i}.message.role/.content, assistant tool calls as "
               "llm.input_messages.{i}.message.tool_calls.{j}.tool_call.function.name/.arguments (JSON string) and "
               ".tool_call.id; tool results as role 'tool' with .message.tool_call_id; output: llm.output_messages.0.message.* "
               "(same tool_calls keys). llm.tools.{k}.tool.json_schema lists the offered tools. TOOL spans: tool.name, "
               "tool.description, tool.parameters, tool_call.id (set by the app), input.value (arguments JSON), output.value "
               "(result JSON). 'session end' CHAIN span in its own trace with session.id and session_status='completed'.")
print("ok", NAME)
