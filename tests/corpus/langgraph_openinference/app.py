"""LangGraph ReAct agent traced by OpenInference's LangChain instrumentation.

What it records: a 3-turn chat with a LangGraph `create_react_agent` (ChatOpenAI against the scripted fake
server, one @tool `check_book_availability`, an InMemorySaver checkpointer so the thread keeps its messages
across turns). Each turn invokes the graph with ONLY the new user message and
config={"configurable": {"thread_id": SID}}; openinference-instrumentation-langchain copies the run
metadata's thread_id (LangGraph puts the configurable thread_id into the run metadata) into `session.id`
(its _tracer.py `_metadata()`: metadata session_id or conversation_id or thread_id -> session.id).
Turn 2 calls the tool, turn 3 is a refusal. The session ends with an OpenInference CHAIN span
'session end' opened inside `using_session(SID)` (session_status='completed').

Reproduce (from this folder; python 3.11):
    python3 -m venv /tmp/venv-lg && /tmp/venv-lg/bin/pip install -r requirements.txt
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    /tmp/venv-lg/bin/python ../recording/otlp_sink.py --port $PORT --out .. &
    FIXTURE_SINK=127.0.0.1:$PORT FIXTURES=$(cd .. && pwd) /tmp/venv-lg/bin/python app.py
    /tmp/venv-lg/bin/python ../recording/show.py otlp.json 400 > tree.txt
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
from common import finish, lib_version, setup_tracing, start_fake, write_expected
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.prebuilt import create_react_agent
from openinference.instrumentation import TracerProvider, using_session
from openinference.instrumentation.langchain import LangChainInstrumentor

NAME = "langgraph_openinference"
SID = "sess-langgraph-oi-0011"
SYSTEM = "You are the assistant of the Riverside public library. Answer briefly."
USER = [
    "What are good novels for a long train journey?",
    "Is 'The Left Hand of Darkness' available at the Riverside branch?",
    "Great, can you renew my library card for me? My card number is 4471.",
]
REPLIES = [
    {"text": "Try 'The Count of Monte Cristo' for a long adventure, 'Station Eleven' for something modern, or "
             "'The Remains of the Day' if you prefer a quiet, reflective read.", "expect": "train journey"},
    {"tool_calls": [{"name": "check_book_availability",
                     "arguments": {"title": "The Left Hand of Darkness", "branch": "Riverside"}}],
     "expect": "Left Hand of Darkness"},
    {"text": "Yes: 2 copies of 'The Left Hand of Darkness' are on the shelf at Riverside (call number SF LEG).",
     "expect": "2 copies"},
    {"text": "Sorry, I can't renew library cards: I have no access to member accounts. Please ask at the front desk "
             "or sign in to your account on the library website.", "expect": "renew my library card"},
]


@tool
def check_book_availability(title: str, branch: str) -> str:
    """Check whether a book is on the shelf at a library branch."""
    return f"{title}: 2 copies available at {branch} branch, shelf SF LEG."


base_url = start_fake(NAME, REPLIES)
provider, _ = setup_tracing(NAME, TracerProvider)
LangChainInstrumentor().instrument(tracer_provider=provider)
tracer = provider.get_tracer(NAME)

model = ChatOpenAI(base_url=base_url, api_key="test", model="gpt-4o-mini")
agent = create_react_agent(model, [check_book_availability], prompt=SYSTEM, checkpointer=InMemorySaver())
config = {"configurable": {"thread_id": SID}}

turns, seen = [], 0
for text in USER:
    state = agent.invoke({"messages": [HumanMessage(text)]}, config=config)
    msgs = state["messages"]  # the whole thread, restored by the checkpointer
    for m in msgs[seen:]:
        if isinstance(m, HumanMessage):
            turns.append({"role": "user", "content": m.content})
        elif isinstance(m, AIMessage) and m.tool_calls:
            turns.append({"role": "assistant", "content": m.content or "",
                          "tool_calls": [{"name": tc["name"], "arguments": tc["args"]} for tc in m.tool_calls]})
        elif isinstance(m, AIMessage):
            turns.append({"role": "assistant", "content": m.content})
        elif isinstance(m, ToolMessage):
            turns.append({"role": "tool", "content": m.content})
    seen = len(msgs)
    print(msgs[-1].content)

with using_session(SID):
    with tracer.start_as_current_span("session end", openinference_span_kind="chain") as span:
        span.set_attribute("session_status", "completed")

finish(provider)

# cross-check: the tool results in `turns` are exactly what the model received
reqs = [json.loads(line) for line in open(Path(__file__).resolve().parent / "requests.jsonl")]
sent_tool = [m["content"] for r in reqs for m in r["body"]["messages"] if m["role"] == "tool"]
assert all(t["content"] in sent_tool for t in turns if t["role"] == "tool"), sent_tool
assert len(reqs) == len(REPLIES)

NOTES = (
    "One trace per user turn (agent.invoke), root CHAIN span 'LangGraph' > per ReAct step an AGENT span 'agent' (the "
    "graph node) with CHAIN children 'call_model', 'RunnableSequence' > 'Prompt' (CHAIN) + 'ChatOpenAI' (LLM), and a "
    "CHAIN 'should_continue'; the tool step is a CHAIN 'tools' > TOOL 'check_book_availability'. 30 spans, 4 traces, no "
    "span events, no log records. session.id is on EVERY span: the instrumentor copies the run metadata's thread_id "
    "(LangGraph puts config.configurable.thread_id into the run metadata; also visible in the JSON attribute 'metadata' "
    "= {thread_id, ls_integration, langgraph_step, langgraph_node, ...}) to session.id; no using_session was needed for "
    "the turns. 'session end' CHAIN span (own trace, scope 'langgraph_openinference') opened in using_session(SID) "
    "carries session.id and session_status='completed'. "
    "Messages: ONLY the LLM spans ('ChatOpenAI', openinference.span.kind=LLM) hold the real conversation: "
    "llm.input_messages.{i}.message.role/.content = the whole thread restored by the checkpointer, system prompt first "
    "(roles system|user|assistant|tool); an assistant tool-calling message has NO .content key, only "
    ".message.tool_calls.{j}.tool_call.id/.function.name/.function.arguments (JSON string); the tool result is role "
    "'tool' with .message.content (exact string the model got), .message.tool_call_id and .message.name (tool name); "
    "output: llm.output_messages.0.message.role='assistant' + .content, or + .tool_calls.{j}.tool_call.* (no .content) "
    "with llm.finish_reason='tool_calls'. No message.contents.* keys anywhere. "
    "QUIRK: non-LLM spans also carry llm.input_messages.0.message.role='user'/.content, taken from the FIRST message of "
    "their input state: on the root 'LangGraph' span it is the turn's new user message (the app passes only that), but "
    "on the node spans 'agent' (AGENT), 'call_model', 'RunnableSequence', 'Prompt', 'should_continue' (CHAIN) it is the "
    "whole thread's FIRST question, repeated in every later turn (turn 3's node spans say 'What are good novels...'). "
    "A reader must take messages from LLM spans only (or dedupe), never from AGENT/CHAIN spans. input.value/output.value "
    "on CHAIN/AGENT spans are LangChain-serialised JSON state ({messages:[{type:human|ai|tool, data:{content,...}}]}); "
    "the root's output.value has the whole thread. TOOL span: tool.name, tool.description, input.value = arguments JSON "
    "object string, output.value = the serialised ToolMessage JSON ({type:'tool', data:{content:<result string>, "
    "tool_call_id, name, status}}), not the bare result; no tool_call.id attribute and no llm.* keys. LLM spans also "
    "carry llm.tools.0.tool.json_schema, llm.invocation_parameters, llm.model_name, token counts.")

write_expected(NAME, SID, lib_version("openinference-instrumentation-langchain", "openinference-instrumentation",
                                      "langgraph", "langchain-core", "langchain-openai", "openai"), turns,
               NOTES)
print("ok", NAME)
