"""Pydantic AI (pydantic-ai-slim[openai]) with its built-in OpenTelemetry instrumentation.

Records a 3-turn chat with one tool (`get_weather`, registered with @agent.tool_plain) against the
scripted fake OpenAI server (OpenAIChatModel + OpenAIProvider(base_url=..., api_key='test')). The
agent is instrumented with `Agent.instrument_all(InstrumentationSettings(version=V, tracer_provider=...))`
(Agent(...) takes no `instrument=` argument in pydantic-ai 2.68);
V is the instrumentation data format version (a CLI argument): 6 -> scenario pydantic_ai_v6 (tool
results under role 'tool'), 5 -> scenario pydantic_ai_v5 (the default format, tool results under role
'user'). Turns are carried with `message_history=result.all_messages()`. The session id is Pydantic AI's
documented `conversation_id`: passed to the first `run_sync(..., conversation_id=SID)`; later runs
inherit it from the `conversation_id` stored on `message_history` (documented fallback), and the agent
run span records it as `gen_ai.conversation.id` (it is also put in OTel baggage during the run and
copied onto the run's chat and execute_tool child spans). The session ends with a 'session end' span started on the
library's own tracer (InstrumentationSettings.tracer) carrying gen_ai.conversation.id (the library's key)
and session_status='completed'.

Reproduce (from /work/main/tests/corpus):
    python3 -m venv /tmp/venv-pai && /tmp/venv-pai/bin/pip install -r pydantic_ai_v6/requirements.txt
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    /tmp/venv-pai/bin/python recording/otlp_sink.py --port $PORT --out "$PWD" &
    FIXTURES="$PWD" FIXTURE_SINK=127.0.0.1:$PORT /tmp/venv-pai/bin/python pydantic_ai_v6/app.py 6
    FIXTURES="$PWD" FIXTURE_SINK=127.0.0.1:$PORT /tmp/venv-pai/bin/python pydantic_ai_v5/app.py   # = app.py 5
    kill %1
    /tmp/venv-pai/bin/python recording/show.py pydantic_ai_v6/otlp.json 100000 > pydantic_ai_v6/tree.txt
"""
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
from common import ROOT, lib_version, setup_tracing, start_fake, write_expected  # noqa: E402
from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.messages import (  # noqa: E402
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.instrumented import InstrumentationSettings  # noqa: E402
from pydantic_ai.models.openai import OpenAIChatModel  # noqa: E402
from pydantic_ai.providers.openai import OpenAIProvider  # noqa: E402

VERSION = int(sys.argv[1]) if len(sys.argv) > 1 else 6
NAME = f"pydantic_ai_v{VERSION}"
SID = f"conv-pydantic-ai-v{VERSION}-0005"
USER = [
    "What's a good time of year to visit Lisbon?",
    "What's the weather in Lisbon right now?",
    "Great, can you book me a hotel room there for tonight?",
]
WEATHER = "Lisbon: 21 C, sunny, light wind from the north-west, humidity 55%."
REPLIES = [
    {"text": "Spring (March to May) and early autumn (September to October) are ideal: warm, sunny days, "
             "fewer crowds than in summer, and sea water still pleasant in autumn.", "expect": "Lisbon"},
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Lisbon"}}], "expect": "weather in Lisbon"},
    {"text": "It's currently 21 C and sunny in Lisbon, with a light north-westerly breeze and 55% humidity.",
     "expect": "sunny"},
    {"text": "Sorry, I can't book hotels: I have no access to booking or payment systems. You could try a "
             "booking site or call a hotel in Baixa or Chiado directly.", "expect": "hotel room"},
]

base_url = start_fake(NAME, REPLIES)
provider, _ = setup_tracing(NAME)
settings = InstrumentationSettings(version=VERSION, tracer_provider=provider)
model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=base_url, api_key="test"))
Agent.instrument_all(settings)  # pydantic-ai 2.x: Agent() has no instrument= argument any more
agent = Agent(model, name="travel_agent", instructions="You are a concise travel assistant.")


@agent.tool_plain
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return WEATHER if city == "Lisbon" else f"{city}: no data"


history, turns = None, []
for i, text in enumerate(USER):
    kw = {"conversation_id": SID} if i == 0 else {}  # later turns inherit it from message_history
    result = agent.run_sync(text, message_history=history, **kw)
    print(result.output)
    for msg in result.new_messages():
        if isinstance(msg, ModelRequest):
            for p in msg.parts:
                if isinstance(p, UserPromptPart):
                    turns.append({"role": "user", "content": p.content})
                elif isinstance(p, ToolReturnPart):
                    turns.append({"role": "tool", "content": p.model_response_str()})
        elif isinstance(msg, ModelResponse):
            calls = [p for p in msg.parts if isinstance(p, ToolCallPart)]
            text_out = "".join(p.content for p in msg.parts if isinstance(p, TextPart))
            turn = {"role": "assistant", "content": text_out}
            if calls:
                turn["tool_calls"] = [{"name": c.tool_name, "arguments": c.args_as_dict()} for c in calls]
            turns.append(turn)
    history = result.all_messages()
    assert {m.conversation_id for m in history} == {SID}, {m.conversation_id for m in history}

# The 'session end' span, on the library's own tracer, carrying the library's conversation-id key. (Pydantic AI
# only sets gen_ai.conversation.id inside an agent run, so it is set here explicitly.)
with settings.tracer.start_as_current_span("session end", attributes={
        "gen_ai.conversation.id": SID, "session_status": "completed"}):
    pass
provider.force_flush()
time.sleep(1)
provider.shutdown()

# Cross-check: tool results exactly as the model received them (fake server request log).
reqs = [json.loads(line) for line in open(os.path.join(ROOT, NAME, "requests.jsonl"))]
sent_tool = [m["content"] for m in reqs[-1]["body"]["messages"] if m["role"] == "tool"]
assert sent_tool == [t["content"] for t in turns if t["role"] == "tool"], sent_tool

ROLE = ("role 'tool'" if VERSION >= 6 else "role 'user' (format version 5 keeps tool results on the user role; "
        "version 6 moves them to 'tool')")
notes = (
    f"Pydantic AI instrumentation format version {VERSION} (InstrumentationSettings(version={VERSION}), applied with "
    "Agent.instrument_all). All spans are on scope 'pydantic-ai'. One trace per user turn (agent.run_sync): root "
    "'invoke_agent travel_agent' > one 'chat gpt-4o-mini' span per model request and, in turn 2, 'execute_tool "
    "get_weather' (a direct child of invoke_agent, between the two chat spans). "
    "SESSION ID: the documented conversation_id (run_sync(..., conversation_id=SID) on turn 1; turns 2-3 inherit it "
    "from the conversation_id stored on message_history). It is gen_ai.conversation.id on EVERY span: the "
    "invoke_agent span, and (through OTel baggage) the chat and execute_tool spans; gen_ai.agent.call.id (run id, a "
    "UUID7) and gen_ai.agent.name are also on all three. "
    "MESSAGES: chat spans carry gen_ai.input.messages (JSON string: the WHOLE history sent to the model, so earlier "
    "turns repeat on every later chat span) and gen_ai.output.messages (JSON string, one assistant message with "
    "finish_reason 'stop' or 'tool_call' (singular)). invoke_agent carries pydantic_ai.all_messages (JSON string: "
    "the whole conversation so far INCLUDING this run's final answer, i.e. all earlier turns repeated again), "
    "pydantic_ai.new_message_index (turns 2-3 only: index in all_messages where this run's messages begin) and "
    "final_result (the answer text). Message shape {role, parts[, finish_reason]}; parts {type:'text', content} | "
    "{type:'tool_call', id, name, arguments} | {type:'tool_call_response', id, name, result}. QUIRK: tool_call "
    "'arguments' is a JSON-encoded STRING as the model sent it ('{\"city\": \"Lisbon\"}'), not an object; "
    "result is the tool's plain string. "
    f"Tool results are under {ROLE}. System instructions are not in the messages: gen_ai.system_instructions (JSON "
    "[{type:'text', content}]) on invoke_agent and chat spans. execute_tool span: gen_ai.tool.name, "
    "gen_ai.tool.call.id (= the tool_call part id), gen_ai.tool.call.arguments (compact JSON string "
    "'{\"city\":\"Lisbon\"}', differs in whitespace from the message part), gen_ai.tool.call.result (plain "
    "string). Other attributes without messages: model_request_parameters, gen_ai.tool.definitions, usage, "
    "operation.cost, logfire.msg / logfire.json_schema. "
    "'session end' is a root span made by the app on the library's tracer (InstrumentationSettings.tracer, scope "
    "pydantic-ai), carrying gen_ai.conversation.id and session_status='completed'; Pydantic AI itself has no "
    "session-end notion.")
write_expected(NAME, SID, lib_version("pydantic-ai-slim", "openai", "opentelemetry-sdk"), turns, notes)
print("ok", NAME)
