"""Strands Agents (strands-agents[openai]) driving its OpenAIModel against the scripted fake server.

One Agent instance keeps its own conversation (agent.messages) over 3 user turns: turn 1 a plain
answer, turn 2 a call of the @tool `get_weather` then the answer, turn 3 a refusal. The session id is
set the way the Strands docs show: Agent(trace_attributes={"session.id": SID, "user.id": ...}).
Tracing: the global OTel TracerProvider from common.setup_tracing (BatchSpanProcessor + OTLP/gRPC to
the sink), handed to StrandsTelemetry(tracer_provider=...) (Strands docs, "use your own tracer
provider"); Strands' tracer (strands.telemetry.get_tracer()) uses the global provider.
The 'session end' span is started on Strands' own OTel tracer (get_tracer().tracer, scope
strands.telemetry.tracer); Strands does not apply trace_attributes to a manual span, so the app sets
session.id on it itself, with session_status="completed".

Variants (CLI arg 1), one folder each (the other folders' app.py run this file with runpy):
    default           -> strands_default          (no OTEL_SEMCONV_STABILITY_OPT_IN)
    latest            -> strands_latest           (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental)
    attributes_only   -> strands_attributes_only  (...=gen_ai_latest_experimental,gen_ai_span_attributes_only)

Reproduce (from tests/corpus):
    python3.11 -m venv /tmp/venv-strands
    /tmp/venv-strands/bin/pip install -r strands_default/requirements.txt
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    /tmp/venv-strands/bin/python recording/otlp_sink.py --port $PORT --out $PWD &
    export FIXTURES=$PWD FIXTURE_SINK=127.0.0.1:$PORT
    /tmp/venv-strands/bin/python strands_default/app.py
    /tmp/venv-strands/bin/python strands_latest/app.py
    /tmp/venv-strands/bin/python strands_attributes_only/app.py
    /tmp/venv-strands/bin/python recording/show.py strands_default/otlp.json 100000 > strands_default/tree.txt  (etc.)
"""
import json
import os
import sys
from pathlib import Path

VARIANT = sys.argv[1] if len(sys.argv) > 1 else "default"
OPT_IN = {"default": None,
          "latest": "gen_ai_latest_experimental",
          "attributes_only": "gen_ai_latest_experimental,gen_ai_span_attributes_only"}[VARIANT]
NAME = f"strands_{VARIANT}"
os.environ.pop("OTEL_SEMCONV_STABILITY_OPT_IN", None)
if OPT_IN:
    # read once by Strands' Tracer when it is first created (at the first Agent)
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = OPT_IN

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
from common import ROOT, finish, lib_version, setup_tracing, start_fake, write_expected  # noqa: E402

SID = f"sess-{NAME.replace('_', '-')}-0b01"
USER = [
    "What should I pack for a weekend in Lisbon in April?",
    "What's the weather in Lisbon right now?",
    "Great. Please book me a table for two at a seafood restaurant in Alfama tonight.",
]
WEATHER = "Lisbon: 19°C, sunny, light wind from the north-west, 10% chance of rain."
REPLIES = [
    {"text": "For Lisbon in April pack light layers, a light rain jacket, comfortable walking shoes for the hills "
             "and sunglasses; evenings can be cool, so bring a sweater.", "expect": "Lisbon in April"},
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Lisbon"}}], "expect": "weather in Lisbon"},
    {"text": "It's 19°C and sunny in Lisbon right now, with a light north-west wind and only a 10% chance of rain.",
     "expect": "sunny, light wind"},
    {"text": "Sorry, I can't book restaurants: I have no access to reservation systems. You could call the "
             "restaurant directly or use a booking site.", "expect": "book me a table"},
]

base_url = start_fake(NAME, REPLIES)
provider, _ = setup_tracing(NAME)

from strands import Agent, tool  # noqa: E402
from strands.models.openai import OpenAIModel  # noqa: E402
from strands.telemetry import StrandsTelemetry, get_tracer  # noqa: E402

StrandsTelemetry(tracer_provider=provider)  # documented "own tracer provider" setup; exporters are on the provider


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The city name.
    """
    return WEATHER if city == "Lisbon" else f"{city}: no data."


agent = Agent(
    model=OpenAIModel(client_args={"base_url": base_url, "api_key": "test"}, model_id="gpt-4o-mini"),
    tools=[get_weather],
    system_prompt="You are a concise travel assistant.",
    trace_attributes={"session.id": SID, "user.id": "user-0b01"},
    callback_handler=None,
)

for text in USER:
    print(str(agent(text)).strip())

with get_tracer().tracer.start_as_current_span(
        "session end", attributes={"session.id": SID, "session_status": "completed"}):
    pass
finish(provider)

# --- expected turns, from the agent's own message list, tool results checked against what the model received
sent = [json.loads(line)["body"] for line in open(os.path.join(ROOT, NAME, "requests.jsonl"))]
tool_msgs = {m["tool_call_id"]: m["content"] for b in sent for m in b["messages"] if m.get("role") == "tool"}
turns = []
for m in agent.messages:
    texts = "".join(b["text"] for b in m["content"] if "text" in b)
    uses = [b["toolUse"] for b in m["content"] if "toolUse" in b]
    results = [b["toolResult"] for b in m["content"] if "toolResult" in b]
    if results:
        for r in results:
            got = tool_msgs[r["toolUseId"]]
            assert isinstance(got, str) and got == "\n".join(c["text"] for c in r["content"]), (got, r)
            turns.append({"role": "tool", "content": got})
    elif uses:
        turns.append({"role": "assistant", "content": texts,
                      "tool_calls": [{"name": u["name"], "arguments": u["input"]} for u in uses]})
    else:
        turns.append({"role": m["role"], "content": texts})
assert [t["content"] for t in turns if t["role"] == "user"] == USER

COMMON = (
    "Strands Agents with OpenAIModel (chat completions, streaming); no openai-client instrumentation, all spans come "
    "from Strands' own tracer (scope strands.telemetry.tracer; resource service.name = the scenario name, from the "
    "app's TracerProvider). One trace per agent call (3 traces) plus a separate root trace for 'session end'. "
    "Span tree per turn: 'invoke_agent Strands Agents' (root) > 'execute_event_loop_cycle' (one per model call; "
    "in the tool-calling turn BOTH cycles are children of invoke_agent, the 2nd linked to the 1st only by attribute "
    "event_loop.parent_cycle_id) > 'chat' (the model call) and 'execute_tool get_weather' (child of the cycle, "
    "sibling after chat). Session id: 'session.id' (and 'user.id') from Agent(trace_attributes=...) on EVERY "
    "Strands span (invoke_agent, cycle, chat, execute_tool). The 'session end' span (own trace, no parent, no "
    "gen_ai.* attributes) was started by the app on Strands' OTel tracer (strands.telemetry.get_tracer().tracer); "
    "Strands does not apply trace_attributes to such a manual span, so the app set session.id on it itself, with "
    "session_status='completed'. Message content is Strands' (Bedrock Converse style) content blocks, not OpenAI "
    "messages: text {text}, assistant tool call {toolUse:{toolUseId,name,input(object)}}, and the tool result is a "
    "message of ROLE 'user' holding {toolResult:{toolUseId,status:'success',content:[{text}]}}; the model received "
    "the text of toolResult.content (joined with newlines, here one block) as the OpenAI role 'tool' message, which "
    "is the tool turn in 'turns'. Tool call id = the fake server's call id (call_0020). Finish reasons are Strands' "
    "'tool_use' / 'end_turn', not OpenAI's. The final answer on invoke_agent is str(AgentResult): the answer text "
    "plus a trailing newline (the chat span holds it without). A tool-calling turn's assistant message has no text "
    "(content ''). Token counts on invoke_agent are accumulated over the whole agent life, not per turn. "
)
if VARIANT == "default":
    notes = COMMON + (
        "Default (legacy v1.36) conventions: content is ONLY in SPAN EVENTS, one event per message, attribute "
        "'content' = JSON string of that message's content-block list; event names gen_ai.system.message "
        "([{text}] system prompt), gen_ai.user.message, gen_ai.assistant.message, gen_ai.tool.message (a role-user "
        "message holding toolResult blocks is named gen_ai.tool.message). invoke_agent span: gen_ai.system.message "
        "+ ONLY the current turn's user message, then 'gen_ai.choice' {message: the final answer as a PLAIN string "
        "(not JSON, trailing newline), finish_reason:'end_turn'}. execute_event_loop_cycle span: no system message; "
        "one event per message of the WHOLE agent history so far (earlier turns, earlier tool calls and results, the "
        "current user message; the 2nd cycle of the tool turn also the toolUse message and the toolResult message); "
        "a cycle that ran a tool ends with 'gen_ai.choice' {message: JSON [{toolUse}] (the tool-calling assistant "
        "content), tool.result: JSON [{toolResult}]}; a cycle without tool use has no output event. chat span: "
        "gen_ai.system.message + the whole history (same as its cycle), then 'gen_ai.choice' {finish_reason, "
        "message: JSON content-block list of the model output ([{text}] or [{toolUse}])}. execute_tool span: event "
        "'gen_ai.tool.message' {role:'tool', content: JSON of the tool ARGUMENTS object {\"city\":\"Lisbon\"}, "
        "id} (so gen_ai.tool.message means the tool result in the history but the tool input here), then "
        "'gen_ai.choice' {message: JSON [{text: result}], id}; attributes gen_ai.tool.name, gen_ai.tool.call.id, "
        "gen_ai.tool.status='success', gen_ai.tool.description, gen_ai.tool.json_schema. No content in span "
        "attributes (only gen_ai.agent.tools = JSON list of tool names on invoke_agent). Duplicates: every message "
        "appears many times (each cycle and each chat span repeats the full history; each answer is on its chat "
        "gen_ai.choice, on invoke_agent gen_ai.choice and in every later history; the tool call/result on the cycle "
        "gen_ai.choice, the tool span and the next cycle/chat history).")
else:
    where = ("SPAN ATTRIBUTES: no span events at all (the 'gen_ai.client.inference.operation.details' events are "
             "replaced by setting their attributes on the span, so a later value of the same key overwrites an "
             "earlier one)" if VARIANT == "attributes_only" else
             "SPAN EVENTS named 'gen_ai.client.inference.operation.details', each carrying ONE of the keys below "
             "(a chat span has three such events: system_instructions, input.messages, output.messages)")
    notes = COMMON + (
        f"Latest experimental conventions ({OPT_IN}): gen_ai.provider.name='strands-agents' (no gen_ai.system). "
        f"Content is in {where}. Keys: gen_ai.input.messages / gen_ai.output.messages = JSON strings "
        "[{role, parts:[{type:'text',content} | {type:'tool_call',name,id,arguments(object)} | "
        "{type:'tool_call_response',id,response:[{text}] (the toolResult content LIST, not a string)}], "
        "finish_reason?}], gen_ai.system_instructions = JSON [{type:'text',content}]. In histories the tool result "
        "message keeps role 'user' (parts of type tool_call_response). invoke_agent span: gen_ai.system_instructions "
        "is a plain span attribute (in both latest variants); gen_ai.input.messages = ONLY the current turn's user "
        "message; gen_ai.output.messages = [{role:'assistant', parts:[{type:'text', content: answer + trailing "
        "newline}], finish_reason:'end_turn'}]. execute_event_loop_cycle span: gen_ai.input.messages = the WHOLE "
        "agent history so far; a cycle that ran a tool records a SECOND gen_ai.input.messages = [{role:'user', "
        "parts:[tool_call_response]}] at its end; cycles never have output messages, and the tool-calling "
        "assistant message is not on its own cycle (only on the chat output and in later histories)"
        + (" -- here the second value OVERWRITES the first, so the tool cycle's gen_ai.input.messages holds ONLY "
           "the tool result message and that cycle shows no history" if VARIANT == "attributes_only" else "")
        + ". chat span: gen_ai.system_instructions, gen_ai.input.messages (whole history) and "
        "gen_ai.output.messages [{role:'assistant', parts, finish_reason:'tool_use'|'end_turn'}]. execute_tool "
        "span: ATTRIBUTES gen_ai.tool.call.arguments (JSON object string) and gen_ai.tool.call.result (JSON "
        "[{text}]) in both latest variants, plus gen_ai.input.messages [{role:'tool', parts:[tool_call]}] and "
        "gen_ai.output.messages [{role:'tool', parts:[tool_call_response]}] (role 'tool' here, 'user' in "
        "histories), gen_ai.tool.name, gen_ai.tool.call.id, gen_ai.tool.status, gen_ai.tool.description, "
        "gen_ai.tool.json_schema. Duplicates: the history is repeated on every cycle and chat span; each answer on "
        "its chat span, on invoke_agent and in later histories; the tool call/result on the chat output, the tool "
        "span, the cycle and the next cycle/chat history.")
write_expected(NAME, SID, lib_version("strands-agents", "openai", "opentelemetry-sdk") +
               (f"; OTEL_SEMCONV_STABILITY_OPT_IN={OPT_IN}" if OPT_IN else "; default conventions"), turns, notes)
print("ok", NAME)
