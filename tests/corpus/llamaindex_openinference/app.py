"""LlamaIndex FunctionAgent traced by OpenInference's LlamaIndex instrumentation.

What it records: a 3-turn chat with a llama-index `FunctionAgent` (llama-index-llms-openai `OpenAI` against the
scripted fake server, model 'gpt-4o-mini' which llama-index knows as a function-calling model; one tool made with
`FunctionTool.from_defaults`). One `Context(agent)` is kept across the three `agent.run(user_msg=..., ctx=ctx)`
calls, so the agent's memory holds the thread. The session id is set the OpenInference way: every turn runs
inside `using_session(SID)` (openinference-instrumentation), which the instrumentor's OITracer copies onto each
span as `session.id`. Turn 2 calls the tool, turn 3 is a refusal. The session ends with an OpenInference CHAIN
span 'session end' opened inside `using_session(SID)` (session_status='completed').
pydantic is pinned to 2.13.5: with 2.14.x the reused Context silently loses the agent's memory (see notes).

Reproduce (from this folder; python 3.11):
    python3 -m venv /tmp/venv-li && /tmp/venv-li/bin/pip install -r requirements.txt
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    /tmp/venv-li/bin/python ../recording/otlp_sink.py --port $PORT --out .. &
    FIXTURE_SINK=127.0.0.1:$PORT FIXTURES=$(cd .. && pwd) /tmp/venv-li/bin/python app.py
    /tmp/venv-li/bin/python ../recording/show.py otlp.json 400 > tree.txt
"""
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
from common import finish, lib_version, setup_tracing, start_fake, write_expected
from llama_index.core.agent.workflow import AgentOutput, FunctionAgent, ToolCallResult
from llama_index.core.tools import FunctionTool
from llama_index.core.workflow import Context
from llama_index.llms.openai import OpenAI
from openinference.instrumentation import TracerProvider, using_session
from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

NAME = "llamaindex_openinference"
SID = "sess-llamaindex-oi-0012"
SYSTEM = "You are the help desk of the city museum. Answer briefly."
USER = [
    "What is the best time of day to visit the museum to avoid crowds?",
    "When does the Impressionist exhibition close?",
    "Thanks. Can you cancel the guided tour I booked for Friday?",
]
REPLIES = [
    {"text": "Weekday mornings right after opening (10:00) or the last two hours before closing are the quietest.",
     "expect": "avoid crowds"},
    {"tool_calls": [{"name": "get_exhibition_dates", "arguments": {"exhibition": "Impressionist"}}],
     "expect": "Impressionist exhibition"},
    {"text": "The Impressionist exhibition runs until 16 March; the last entry is at 17:00.", "expect": "16 March"},
    {"text": "Sorry, I can't cancel bookings: I have no access to the reservation system. Please call the box office "
             "or use the link in your confirmation email.", "expect": "cancel the guided tour"},
]


def get_exhibition_dates(exhibition: str) -> str:
    """Opening and closing dates of a current exhibition."""
    return f"{exhibition}: open 12 November to 16 March, last entry 17:00."


async def main(agent, turns):
    ctx = Context(agent)  # kept across turns: the agent's memory lives in it
    for text in USER:
        turns.append({"role": "user", "content": text})
        with using_session(SID):
            handler = agent.run(user_msg=text, ctx=ctx)
            async for ev in handler.stream_events():
                if isinstance(ev, AgentOutput) and ev.tool_calls:
                    turns.append({"role": "assistant", "content": ev.response.content or "",
                                  "tool_calls": [{"name": tc.tool_name, "arguments": tc.tool_kwargs}
                                                 for tc in ev.tool_calls]})
                elif isinstance(ev, ToolCallResult):
                    turns.append({"role": "tool", "content": str(ev.tool_output.content)})
            response = await handler
        turns.append({"role": "assistant", "content": str(response.response.content)})
        print(response)


base_url = start_fake(NAME, REPLIES)
provider, _ = setup_tracing(NAME, TracerProvider)
LlamaIndexInstrumentor().instrument(tracer_provider=provider)
tracer = provider.get_tracer(NAME)

llm = OpenAI(api_base=base_url, api_key="test", model="gpt-4o-mini")
agent = FunctionAgent(tools=[FunctionTool.from_defaults(get_exhibition_dates)], llm=llm, system_prompt=SYSTEM)
turns = []
asyncio.run(main(agent, turns))

with using_session(SID):
    with tracer.start_as_current_span("session end", openinference_span_kind="chain") as span:
        span.set_attribute("session_status", "completed")

finish(provider)

# cross-check: the tool results in `turns` are exactly what the model received
reqs = [json.loads(line) for line in open(Path(__file__).resolve().parent / "requests.jsonl")]
sent_tool = [m["content"] for r in reqs for m in r["body"]["messages"] if m["role"] == "tool"]
assert all(t["content"] in sent_tool for t in turns if t["role"] == "tool"), sent_tool
assert len(reqs) == len(REPLIES)
assert USER[0] in json.dumps(reqs[-1]["body"]["messages"]), "the Context lost the agent's memory between runs"

NOTES = (
    "One trace per user turn: root CHAIN span 'FunctionAgent.run' > CHAIN step spans 'BaseWorkflowAgent.init_run', "
    "'.setup_agent', '.run_agent_step', '.parse_agent_output' (and for the tool turn '.call_tool' > TOOL "
    "'FunctionTool.acall', then '.aggregate_tool_results' and a second setup/run_agent_step/parse round). Each model call "
    "gives TWO spans of kind LLM under 'run_agent_step': 'OpenAI._prepare_chat_with_tools' (NO llm.input_messages / "
    "output_messages: only llm.model_name, llm.invocation_parameters, llm.provider/system and Python-repr input.value/"
    "output.value) and 'OpenAI.astream_chat' (the real call; FunctionAgent streams). 30 spans, 4 traces, no log records; "
    "4 span events 'First Token Stream Event' (no attributes) on the astream_chat spans. session.id is on EVERY span, from "
    "using_session(SID) around each agent.run (the instrumentation has no session mechanism of its own; OITracer copies "
    "the context attribute). 'session end' CHAIN span (own trace, scope 'llamaindex_openinference') opened in "
    "using_session(SID) carries session.id and session_status='completed'. "
    "Messages: ONLY 'OpenAI.astream_chat' spans carry them: llm.input_messages.{i}.message.role/.content = the whole "
    "history from the agent's memory, system prompt first (roles system|user|assistant|tool); the assistant "
    "tool-calling message has NO .content key but .message.contents.0.message_content.type='text' and "
    ".message.contents.0.message_content.text='' plus .message.tool_calls.{j}.tool_call.id/.function.name/"
    ".function.arguments (JSON string); the tool result is role 'tool' with .message.content (exact string the model "
    "got) and .message.tool_call_id (no .message.name). Output: llm.output_messages.0.message.role='assistant' + "
    ".content, or for a tool call .contents.0.message_content.text='' + .tool_calls.{j}.tool_call.* (no .content); "
    "llm.finish_reason 'stop'|'tool_calls'; output.value = 'assistant: <text>' (a 'assistant: ' prefix, text empty for "
    "the tool call). No token counts (streaming without usage). llm.tools.0.tool.json_schema lists the tool. "
    "No AGENT spans; CHAIN step spans carry NO llm.input_messages, only input.value/output.value as Python reprs of "
    "workflow events (ChatMessage(...)), truncated with '...' (output.value at ~200 chars; e.g. init_run/setup_agent "
    "output start with the thread's FIRST question in later turns) - not a transcript source. TOOL span "
    "'FunctionTool.acall': tool.name, tool.description ('name(sig) -> str\\n' + docstring), tool.parameters (JSON "
    "schema), input.value = JSON {\"kwargs\": {arguments}}, output.value = JSON ToolOutput {blocks:[{text}], tool_name, "
    "raw_input:{args,kwargs}, raw_output:<result string>, is_error}; no tool_call.id (only in the parent 'call_tool' "
    "CHAIN span's repr input.value). "
    "Version quirk: with pydantic 2.14.x, llama-index-core 0.14.25's chat-store serializer fails, and llama-index-"
    "workflows 2.26 (which serializes the Context's state when a Context is reused for the next run) then drops the "
    "memory (UnserializableKeyWarning): every turn would reach the model with only the system prompt and the new "
    "message. pydantic is pinned to 2.13.5 here, where the Context keeps the thread.")
write_expected(NAME, SID, lib_version("openinference-instrumentation-llama-index", "openinference-instrumentation",
                                      "llama-index-core", "llama-index-workflows", "llama-index-llms-openai", "openai",
                                      "pydantic"), turns, NOTES)
print("ok", NAME)
