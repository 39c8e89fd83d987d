"""smolagents ToolCallingAgent traced by openinference-instrumentation-smolagents.

Records a 3-turn chat: a ToolCallingAgent with one @tool (`get_weather`) and an OpenAIServerModel pointed at
the scripted fake OpenAI server. Each user turn is one `agent.run(text, reset=...)`; turns 2 and 3 use
reset=False so the agent keeps its memory (the smolagents way of continuing a conversation). smolagents ends
every run with a call of its built-in `final_answer` tool, so the script answers each turn with a
final_answer tool call. Tracing: SmolagentsInstrumentor().instrument(tracer_provider=...) on an OpenInference
TracerProvider exporting to the sink; the session id is OpenInference's `using_session(SID)` context manager
around every run. The 'session end' span is a CHAIN span started with the provider's OITracer inside
using_session, so OpenInference puts session.id on it like on any of its spans.

Reproduce (from /work/main/tests/corpus):
    python3 -m venv /tmp/venv-smol && /tmp/venv-smol/bin/pip install -r smolagents_openinference/requirements.txt
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    /tmp/venv-smol/bin/python recording/otlp_sink.py --port $PORT --out "$PWD" &
    FIXTURES="$PWD" FIXTURE_SINK=127.0.0.1:$PORT /tmp/venv-smol/bin/python smolagents_openinference/app.py
    kill %1
    /tmp/venv-smol/bin/python recording/show.py smolagents_openinference/otlp.json 100000 > smolagents_openinference/tree.txt
"""
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
from common import ROOT, finish, lib_version, setup_tracing, start_fake, write_expected  # noqa: E402
from openinference.instrumentation import TracerProvider, using_session  # noqa: E402
from openinference.instrumentation.smolagents import SmolagentsInstrumentor  # noqa: E402
from smolagents import OpenAIServerModel, ToolCallingAgent, tool  # noqa: E402
from smolagents.memory import ActionStep, TaskStep  # noqa: E402

NAME = "smolagents_openinference"
SID = "sess-smolagents-openinference-0006"
USER = [
    "When is the best season to visit Kyoto?",
    "What's the weather in Kyoto right now?",
    "Thanks. Can you reserve a table for two at a kaiseki restaurant there tonight?",
]
WEATHER = "Kyoto: 14 C, light rain, wind 8 km/h from the north, humidity 82%."
REPLIES = [
    {"tool_calls": [{"name": "final_answer", "arguments": {
        "answer": "Spring (late March to early April, for the cherry blossoms) and autumn (November, for the red "
                  "maple leaves) are the best seasons: mild weather and the city at its most beautiful."}}],
     "expect": "Kyoto"},
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Kyoto"}}], "expect": "weather in Kyoto"},
    {"tool_calls": [{"name": "final_answer", "arguments": {
        "answer": "It's 14 C with light rain in Kyoto right now, a light northerly wind and 82% humidity: take an "
                  "umbrella."}}], "expect": "light rain"},
    {"tool_calls": [{"name": "final_answer", "arguments": {
        "answer": "Sorry, I can't make reservations: I have no access to booking systems. You could call the "
                  "restaurant directly or ask your hotel's concierge."}}], "expect": "reserve a table"},
]

base_url = start_fake(NAME, REPLIES)
provider, _ = setup_tracing(NAME, provider_cls=TracerProvider)  # OpenInference TracerProvider (OITracer)
SmolagentsInstrumentor().instrument(tracer_provider=provider)


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The name of the city.
    """
    return WEATHER if city == "Kyoto" else f"{city}: no data"


model = OpenAIServerModel(model_id="gpt-4o-mini", api_base=base_url, api_key="test")
agent = ToolCallingAgent(tools=[get_weather], model=model, name="travel_agent", max_steps=5, verbosity_level=0)

answers = []
for i, text in enumerate(USER):
    with using_session(SID):
        answers.append(agent.run(text, reset=(i == 0)))
    print(answers[-1])

with using_session(SID):
    with provider.get_tracer(NAME).start_as_current_span("session end", openinference_span_kind="chain") as span:
        span.set_attribute("session_status", "completed")
finish(provider)
time.sleep(0.5)

# The conversation as the user experienced it, from the agent's memory.
turns = []
for step in agent.memory.steps:
    if isinstance(step, TaskStep):
        turns.append({"role": "user", "content": step.task})
    elif isinstance(step, ActionStep):
        if step.is_final_answer:
            assert [tc.name for tc in step.tool_calls] == ["final_answer"]
            turns.append({"role": "assistant", "content": step.tool_calls[0].arguments["answer"]})
            continue
        turns.append({"role": "assistant", "content": "",
                      "tool_calls": [{"name": tc.name, "arguments": tc.arguments} for tc in step.tool_calls]})
        assert len(step.tool_calls) == 1  # one call per step: step.observations is that call's result
        turns.append({"role": "tool", "content": step.observations})

assert [t["content"] for t in turns if t["role"] == "assistant" and "tool_calls" not in t] == answers

# Cross-check with what the model was really sent (fake server log): OpenAIServerModel turns tool-call -> assistant and
# tool-response -> user and merges consecutive messages of one role, so user texts arrive as "New task:\n<text>" and
# tool results as "Observation:\n<result>" inside user messages (an observation and the next task can share one).
reqs = [json.loads(line) for line in open(os.path.join(ROOT, NAME, "requests.jsonl"))]
sent_user = "\n".join("".join(c["text"] for c in m["content"]) for m in reqs[-1]["body"]["messages"] if m["role"] == "user")
for t in turns:
    if t["role"] == "user":
        assert "New task:\n" + t["content"] in sent_user, t
    elif t["role"] == "tool":
        assert "Observation:\n" + t["content"] in sent_user, t

NOTES = (
    "One trace per agent.run (user turn); all spans on scope openinference.instrumentation.smolagents. Root AGENT "
    "span 'travel_agent.run': input.value = JSON {task, stream, reset, images, additional_args, max_steps, "
    "return_full_result} whose task is the user's text as typed (no prefix); output.value = the final answer (plain "
    "text); smolagents.tools_names, smolagents.max_steps, llm.token_count.*; QUIRK: smolagents.task on runs 2 and 3 "
    "holds the PREVIOUS run's task (absent on run 1), not this run's. Children: one CHAIN span 'Step N' per ReAct step "
    "(input.value = JSON {memory_step: python repr of an empty ActionStep}; output.value = the step's output: the "
    "tool result for a tool step, the answer for the final step) > an LLM span 'OpenAIModel.generate' and one TOOL "
    "span per call, named after the tool CLASS ('SimpleTool' for the @tool get_weather, 'FinalAnswerTool' for "
    "final_answer) with tool.name, tool.description, tool.parameters, input.value = JSON {args: [], "
    "sanitize_inputs_outputs: true, kwargs: {<arguments>}}, output.value = the tool's return (output.mime_type "
    "text/plain). SESSION ID: session.id on EVERY span (using_session(SID) around each run; the 'session end' "
    "CHAIN span, root of its own trace, made with the OpenInference TracerProvider's OITracer inside using_session, "
    "has session.id and session_status='completed'). "
    "LLM spans: llm.input_messages.{i}.message.role + .contents.{k}.message_content.type ('text') / .text (never "
    ".message.content) hold the WHOLE smolagents memory as smolagents keeps it, so every earlier turn repeats on every "
    "later LLM span. Roles and prefixes there: 'system' (the long ToolCallingAgent prompt, lists the tools incl. "
    "final_answer); 'user' with 'New task:\\n<user text>'; 'tool-call' (smolagents MessageRole.TOOL_CALL) with "
    "'Calling tools:\\n' + a PYTHON repr (str() of a list of dicts, single quotes, arguments as a dict: [{'id': "
    "'call_0020', 'type': 'function', 'function': {'name': 'get_weather', 'arguments': {'city': 'Kyoto'}}}]), not "
    "JSON; 'tool-response' with 'Observation:\\n<tool result>'. input.value = JSON {messages: [python repr of "
    "ChatMessage objects]}. Output: llm.output_messages.0.message.role='assistant' with NO content and "
    ".tool_calls.{j}.tool_call.id / .function.name / .function.arguments (JSON string, as the model sent it); "
    "output.value = JSON of smolagents' ChatMessage (raw = python repr of the ChatCompletion). llm.tools.{n}.tool."
    "json_schema lists get_weather and final_answer; llm.invocation_parameters = {}. What the model actually "
    "received (requests.jsonl) differs from the recorded input messages: OpenAIServerModel maps tool-call -> "
    "'assistant' and tool-response -> 'user' and merges consecutive same-role messages, so it got plain text "
    "messages (no OpenAI tool_calls or role 'tool'), e.g. one user message 'Observation:\\n<previous answer>\\nNew "
    "task:\\n<next text>'. final_answer: every run ends with a final_answer tool call (arguments {answer: <text>}); "
    "the answer text appears in that LLM span's output tool call arguments, the FinalAnswerTool span (kwargs.answer "
    "and output.value), the last Step span's output.value and the AGENT span's output.value. In later runs "
    "(reset=False) each earlier answer reappears in the LLM input as a 'tool-call' message calling final_answer "
    "followed by a 'tool-response' 'Observation:\\n<answer>'. A transcript reader must therefore treat "
    "final_answer calls/observations as the assistant's text reply, not as a tool turn. Expected turns: user text "
    "without 'New task:\\n', tool result without 'Observation:\\n' (the model received 'Observation:\\n' + that "
    "string), final answers as plain assistant text turns; turn 3 is a refusal.")
write_expected(NAME, SID, lib_version("smolagents", "openinference-instrumentation-smolagents",
                                      "openinference-instrumentation", "openai"), turns, NOTES)
print("ok", NAME)
