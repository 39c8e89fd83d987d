"""e. openai-agents SDK + openinference-instrumentation-openai-agents: a triage agent that hands off to a
math agent with add/subtract tools. Responses API against the fake server. History is kept in an
agents SQLiteSession (in memory); each turn runs inside using_session(SID)."""
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
from agents import (
    Agent,
    RunConfig,
    Runner,
    SQLiteSession,
    function_tool,
    set_default_openai_client,
)
from common import finish, lib_version, setup_tracing, start_fake, write_expected
from openai import AsyncOpenAI
from openinference.instrumentation import (
    TracerProvider,
    using_attributes,
    using_session,
)
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

NAME = "openai_agents"
SID = "sess-agents-0005"
USER = [
    "Hi! What can you help me with?",
    "What is 1234 plus 5678?",
    "Now subtract 912 from that.",
]
REPLIES = [  # in request order; triage answers turn 1, hands off in turn 2, math agent continues
    {"text": "I'm a triage assistant: I can answer general questions and hand arithmetic over to our Math Agent.",
     "expect": "What can you help"},
    {"tool_calls": [{"name": "transfer_to_math_agent", "arguments": {}}], "expect": "1234 plus 5678"},
    {"tool_calls": [{"name": "add", "arguments": {"a": 1234, "b": 5678}}], "expect": "Math Agent"},
    {"text": "1234 + 5678 = 6912.", "expect": "6912"},
    {"tool_calls": [{"name": "subtract", "arguments": {"a": 6912, "b": 912}}], "expect": "subtract 912"},
    {"text": "6912 - 912 = 6000.", "expect": "6000"},
]


@function_tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@function_tool
def subtract(a: int, b: int) -> int:
    """Subtract b from a."""
    return a - b


math_agent = Agent(name="Math Agent", model="gpt-4o-mini", tools=[add, subtract],
                   handoff_description="Specialist for arithmetic questions",
                   instructions="You do arithmetic. Always use the add/subtract tools.")
triage_agent = Agent(name="Triage Agent", model="gpt-4o-mini", handoffs=[math_agent],
                     instructions="Answer general questions yourself; hand arithmetic to the Math Agent.")


def to_turns(items):
    """Conversation items (Responses input format) -> expected turns."""
    out = []
    for it in items:
        t = it.get("type", "message")
        if t == "message":
            c = it["content"]
            text = c if isinstance(c, str) else "".join(p.get("text", "") for p in c)
            out.append({"role": it["role"], "content": text})
        elif t == "function_call":
            call = {"name": it["name"], "arguments": json.loads(it["arguments"] or "{}")}
            if out and out[-1]["role"] == "assistant" and out[-1]["content"] == "" and "tool_calls" in out[-1]:
                out[-1]["tool_calls"].append(call)
            else:
                out.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif t == "function_call_output":
            out.append({"role": "tool", "content": it["output"] if isinstance(it["output"], str) else json.dumps(it["output"])})
    return out


async def main():
    base_url = start_fake(NAME, REPLIES)
    provider, _ = setup_tracing(NAME, TracerProvider)
    OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)  # replaces the SDK's default OpenAI trace exporter
    set_default_openai_client(AsyncOpenAI(base_url=base_url, api_key="test"), use_for_tracing=False)
    memory = SQLiteSession(SID)
    agent = triage_agent
    for text in USER:
        with using_session(SID):
            result = await Runner.run(agent, text, session=memory,
                                      run_config=RunConfig(workflow_name="support chat", group_id=SID))
        agent = result.last_agent  # continue with whoever answered (the math agent after the handoff)
        print(f"[{result.last_agent.name}] {result.final_output}")
    history = await memory.get_items()
    with using_attributes(session_id=SID, tags=["session-end"]):
        with provider.get_tracer(NAME).start_as_current_span("session end", openinference_span_kind="chain") as span:
            span.set_attribute("session_status", "completed")
    finish(provider)
    write_expected(NAME, SID, lib_version("openinference-instrumentation-openai-agents", "openai-agents", "openai"),
                   to_turns(history), NOTES)
    with open(str(Path(__file__).resolve().parents[1] / NAME / "session_items.json"), "w") as f:  # the SDK's own record of the conversation
        json.dump(history, f, indent=1)
    print("ok", NAME)


NOTES = ("One trace per Runner.run (= user turn): root AGENT span 'support chat' (RunConfig.workflow_name) > CHAIN "
         "'support chat' > AGENT span per agent ('Triage Agent' / 'Math Agent'; agent.name, graph.node.id, and "
         "graph.node.parent_id after a handoff) > CHAIN 'turn' > LLM span 'response' plus TOOL spans 'add'/'subtract' "
         "(tool.name, tool.description, tool.parameters, input.value = arguments JSON, output.value = result) and "
         "'handoff to Math Agent' (TOOL span, input.value = from agent, output.value = to agent). session.id is on every "
         "span (using_session). LLM spans carry the whole history each time: llm.input_messages.{i}.message.role and "
         ".content; index 0 is the agent instructions as role 'system' (left out of the expected turns); earlier "
         "assistant replies appear as .message.contents.{k}.message_content.type/.text with NO .content; tool calls as "
         ".message.tool_calls.{j}.tool_call.id/.function.name/.function.arguments (arguments left out when empty, as for "
         "transfer_to_math_agent); tool results as role 'tool' with .message.tool_call_id. Output: "
         "llm.output_messages.0.message.content and .contents.0.message_content.text for text, or .tool_calls.* "
         "(llm.finish_reason is 'stop' even for tool calls). input.value = Responses input items JSON, output.value = the "
         "Response JSON. The handoff's tool output is the SDK's string '{\"assistant\": \"Math Agent\"}'. "
         "RunConfig.group_id is NOT exported. Expected turns come from the SQLiteSession items (session_items.json).")

if __name__ == "__main__":
    asyncio.run(main())
