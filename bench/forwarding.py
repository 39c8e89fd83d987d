"""Forwarding on verdict: what `forwarding.mode: on_verdict` saves downstream, and what it costs in Redis
memory and in delay, against the default `immediate`, for the same LLM traffic in one run.

Traffic: --sessions chat sessions (tenant `service.name` bench-chat-app), each of 3 to 5 turns. A turn
is one trace: an `agent.turn` CHAIN root and one OpenInference LLM span, or (a third of the turns) an
LLM span calling a tool, the TOOL span and a second LLM span. The LLM spans carry the conversation so
far (system prompt, every earlier message and tool result) as `llm.input_messages.*` and again as the
request JSON in `input.value`, so they grow from about 2.6 KB to 12.6 KB along a session (median 5.2
KB; about 33 KB of Export requests per session). Then the session's end span (`session_status:
completed`), a trace of its own. A --failure-rate share of the sessions (chosen at random, seeded)
end with an empty answer. Session i starts at t0 + i / --rate; its
turns go --turn-gap apart, one Export call each, then the end span. Every run sends the same sessions.

Verdicts without a judge, as tests/e2e/test_forwarding.py gets them: `failure_to_answer` is the only
evaluator and the judge has no API key, so an empty answer fails without the judge and every other
answer is skipped. The failing sessions are the ones the default keep rule keeps.

Runs, each on a fresh service (default config but for ports, Redis and the above) and an emptied
private redis-server:
- forwarding, one per mode, the downstream a process that records every request it gets (its size,
  its spans per trace, its verdict carriers): `immediate` (the default), `on_verdict` with the default
  keep rule [{when: {failed: true}}], and `on_verdict_sampled` with keep [{when: {failed: true}},
  {sample_rate: --sample-rate}]; default `session.settle_delay_s`. Each waits until every verdict and
  every span it should forward has arrived, then 1 s more for anything that should not;
- memory, immediate and on_verdict: the same sessions sent as fast as they go with `settle_delay_s`
  an hour, so all are buffered and none judged; Redis `used_memory` growth, and `MEMORY USAGE` of the
  keys written, by kind of key.

Prints one JSON line per forwarding run, one for memory, then a summary line.
Usage: python bench/forwarding.py [--sessions 200] [--failure-rate 0.1] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass

import grpc
import redis
from common import (
    CpuMeter,
    EmbeddedRedis,
    LineReader,
    ServiceProcess,
    cpu_seconds,
    exporters,
    free_port,
    start_role,
    stop_procs,
    summary_ms,
    tree_cpu,
    wait_port,
)

from collector_eval.export.forwarding.options import ForwardingConfig
from collector_eval.export.forwarding.rules import draw
from collector_eval.model import SessionKey
from collector_eval.sessions.options import SessionConfig
from tests.support.spans import any_value, end_span, request, span, trace_id

TENANT = "bench-chat-app"
MODEL = "gpt-4o-mini-2024-07-18"
UNSET_KEY_ENV = "COLLECTOR_EVAL_BENCH_UNSET_KEY"
# Deterministic verdicts: failure_to_answer decides an empty answer without the judge (off: no key).
VERDICTS = {"evaluators": [{"name": "failure_to_answer"}], "judge": {"api_key_env": UNSET_KEY_ENV}}
HOLD = {"mode": "on_verdict"}
MEMORY_MODES = ("immediate", "on_verdict")
QUIET_S = 1.0  # after everything expected arrived: time for anything unexpected to arrive too

VOCAB = """
the a of to and in is it that for on with as are this be at have from or by not but what all were
when we there can an your which their said if do will each about how up out them then she many some
so these would other into has more her two like him see time could no make than first been its who
now people my made over did down only way find use may water long little very after words called
just where most know get through back much before go good new write our used me man too any day
same right look think also around another came come work three word must because does part even
place well such here take why things help put years different away again off went old number great
tell men say small every found still between name should home big give air line set own under read
last never us left end along while might next sound below saw something thought both few those
always looked show large often together asked house world going want school important until form
food keep children feet land side without boy once animals life enough took sometimes four head
above kind began almost live page got earth need far hand high year mother light parts country
father let night following picture being study second eyes soon times story boys since white days
ever paper hard near sentence better best across during today others however sure means knew its
try told young miles sun ways thing whole hear example heard several change answer room sea against
top turned learn point city play toward five using himself usually money seen car morning given
deploy cluster config token request invoice account refund billing plan upgrade latency error retry
""".split()

SYSTEM_PROMPT_WORDS = 60
TOOL_SCHEMA = json.dumps(
    {
        "type": "function",
        "function": {
            "name": "search_docs",
            "description": "Search the product documentation and the customer's account history.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "what to look for"},
                    "limit": {"type": "integer", "description": "results to return, at most 10"},
                },
                "required": ["query"],
            },
        },
    }
)


def prose(rnd: random.Random, low: int, high: int) -> str:
    """Sentences of vocabulary words, between low and high words in all."""
    words = [rnd.choice(VOCAB) for _ in range(rnd.randint(low, high))]
    sentences = []
    while words:
        n = rnd.randint(6, 16)
        text = " ".join(words[:n])
        sentences.append(text[0].upper() + text[1:] + ".")
        words = words[n:]
    return " ".join(sentences)


# --- traffic -------------------------------------------------------------------------------------


@dataclass
class Trace:
    trace_id: bytes
    request: bytes  # the serialized Export request that carries the whole trace
    spans: int


@dataclass
class ChatSession:
    id: str
    failing: bool
    turns: list[Trace]
    end: Trace

    @property
    def traces(self) -> list[Trace]:
        return [*self.turns, self.end]

    @property
    def spans(self) -> int:
        return sum(t.spans for t in self.traces)


def _message_attrs(prefix: str, messages: list[dict]) -> dict:
    attrs: dict = {}
    for j, m in enumerate(messages):
        attrs[f"{prefix}.{j}.message.role"] = m["role"]
        if m.get("content") is not None:
            attrs[f"{prefix}.{j}.message.content"] = m["content"]
        for c, call in enumerate(m.get("tool_calls", ())):
            attrs[f"{prefix}.{j}.message.tool_calls.{c}.tool_call.id"] = call["id"]
            attrs[f"{prefix}.{j}.message.tool_calls.{c}.tool_call.function.name"] = call["function"]["name"]
            attrs[f"{prefix}.{j}.message.tool_calls.{c}.tool_call.function.arguments"] = call["function"]["arguments"]
        if m.get("tool_call_id"):
            attrs[f"{prefix}.{j}.message.tool_call_id"] = m["tool_call_id"]
    return attrs


def _llm_span(tid: bytes, parent: bytes, common: dict, messages: list[dict], reply: dict):
    """An OpenInference LLM span as openinference-instrumentation-openai records a chat completion:
    the messages as attributes and the request and response JSON as input.value / output.value."""
    prompt_tokens = len(json.dumps(messages)) // 4
    completion_tokens = len(json.dumps(reply)) // 4
    attrs = {
        **common,
        "openinference.span.kind": "LLM",
        "llm.system": "openai",
        "llm.provider": "openai",
        "llm.model_name": MODEL,
        "llm.invocation_parameters": json.dumps({"temperature": 0.2, "max_tokens": 1024, "tool_choice": "auto"}),
        "llm.tools.0.tool.json_schema": TOOL_SCHEMA,
        "input.mime_type": "application/json",
        "input.value": json.dumps({"model": MODEL, "messages": messages, "temperature": 0.2}),
        "output.mime_type": "application/json",
        "output.value": json.dumps({"model": MODEL, "choices": [{"index": 0, "message": reply}]}),
        **_message_attrs("llm.input_messages", messages),
        **_message_attrs("llm.output_messages", [reply]),
        "llm.token_count.prompt": prompt_tokens,
        "llm.token_count.completion": completion_tokens,
        "llm.token_count.total": prompt_tokens + completion_tokens,
    }
    return span(tid, "ChatCompletion", parent, **attrs)


def _export(*spans) -> bytes:
    req = request(*spans, service_name=TENANT)
    req.resource_spans[0].scope_spans[0].scope.name = "openinference.instrumentation.openai"
    return req.SerializeToString()


def make_sessions(count: int, failure_rate: float, seed: int = 7) -> list[ChatSession]:
    rnd = random.Random(seed)
    failing = set(rnd.sample(range(count), round(count * failure_rate)))
    system = {"role": "system", "content": prose(rnd, SYSTEM_PROMPT_WORDS, SYSTEM_PROMPT_WORDS)}
    sessions = []
    for i in range(count):
        session_id = f"bench-fwd-{i}"
        common = {"session.id": session_id, "user.id": f"user-{rnd.randrange(10_000)}"}
        history = [system]
        turns = []
        n_turns = rnd.randint(3, 5)
        for k in range(n_turns):
            tid = trace_id()
            user = prose(rnd, 8, 30)
            answer = "" if i in failing and k == n_turns - 1 else prose(rnd, 25, 70)
            root = span(tid, "agent.turn", **common, **{"openinference.span.kind": "CHAIN", "input.value": user})
            history.append({"role": "user", "content": user})
            children = []
            if rnd.random() < 1 / 3:
                call = {
                    "id": f"call_{rnd.randbytes(6).hex()}",
                    "type": "function",
                    "function": {"name": "search_docs", "arguments": json.dumps({"query": prose(rnd, 3, 8)})},
                }
                asks = {"role": "assistant", "content": None, "tool_calls": [call]}
                children.append(_llm_span(tid, root.span_id, common, list(history), asks))
                result = prose(rnd, 30, 60)
                tool_attrs = {"openinference.span.kind": "TOOL", "tool.name": "search_docs"}
                tool_attrs |= {"input.value": call["function"]["arguments"], "output.value": result}
                children.append(span(tid, "search_docs", root.span_id, **common, **tool_attrs))
                history += [asks, {"role": "tool", "tool_call_id": call["id"], "content": result}]
            reply = {"role": "assistant", "content": answer}
            children.append(_llm_span(tid, root.span_id, common, list(history), reply))
            history.append(reply)
            root.attributes.add(key="output.value", value=any_value(answer))
            # The children end first, so a batching exporter sends them before their root.
            turns.append(Trace(tid, _export(*children, root), len(children) + 1))
        end = end_span(session_id)
        sessions.append(ChatSession(session_id, i in failing, turns, Trace(end.trace_id, _export(end), 1)))
    return sessions


async def send(endpoint: str, sessions: list[ChatSession], rate: float, turn_gap_s: float) -> dict:
    """Session i starts at t0 + i / rate (rate 0: all at once, 16 at a time) and sends its traces one
    Export call each, turn_gap_s apart. Returns when each trace was sent (the last try, if refused)."""
    channels, calls = exporters(endpoint, 4)
    for ch in channels:
        await ch.channel_ready()
    sent_at: dict[bytes, float] = {}
    refused: Counter[str] = Counter()
    limit = asyncio.Semaphore(16 if rate <= 0 else len(sessions) or 1)

    async def one(i: int, session: ChatSession) -> None:
        call = calls[i % len(calls)]
        async with limit:
            for k, trace in enumerate(session.traces):
                if k and turn_gap_s:
                    await asyncio.sleep(turn_gap_s)
                for _ in range(50):
                    sent_at[trace.trace_id] = time.monotonic()
                    try:
                        await call(trace.request, timeout=30)
                        break
                    except grpc.aio.AioRpcError as exc:
                        refused[exc.code().name] += 1
                        await asyncio.sleep(0.1)
                else:
                    raise RuntimeError("the service refused a request 50 times")

    loop = asyncio.get_running_loop()
    start = time.monotonic()
    t0 = loop.time()
    tasks = []
    for i, session in enumerate(sessions):
        if rate > 0:
            delay = t0 + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, session)))
    await asyncio.gather(*tasks)
    wall = time.monotonic() - start
    for ch in channels:
        await ch.close()
    return {"sent_at": sent_at, "wall_s": wall, "refused": dict(refused)}


# --- Redis ---------------------------------------------------------------------------------------


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def kind_of(key: bytes) -> str:
    """What a key of the service is, by the name after its shard tag: s (a session), t (a trace), r (a
    verdict), hold, orphans, release, due, jobs, outbox..."""
    _, _, rest = key.partition(b"}:")
    return rest.split(b":", 1)[0].decode() or key.decode()


def keys_by_kind(client: redis.Redis) -> dict[str, dict]:
    """Keys and the sum of their MEMORY USAGE (exact: every element sampled), by kind_of."""
    keys = client.keys("*")
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    out: dict[str, dict] = {}
    for key, size in zip(keys, pipe.execute()):
        entry = out.setdefault(kind_of(key), {"keys": 0, "memory_usage_bytes": 0})
        entry["keys"] += 1
        entry["memory_usage_bytes"] += size or 0
    return out


def grown(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict]:
    """What a workload added, by kind of key (kinds it left as they were omitted)."""
    out = {}
    for kind in sorted(set(before) | set(after)):
        a, b = before.get(kind, {}), after.get(kind, {})
        diff = {f: b.get(f, 0) - a.get(f, 0) for f in ("keys", "memory_usage_bytes")}
        if any(diff.values()):
            out[kind] = diff
    return out


# --- runs ----------------------------------------------------------------------------------------


def mode_overrides(mode: str, sample_rate: float) -> dict:
    if mode == "immediate":
        return dict(VERDICTS)
    forwarding = dict(HOLD)
    if mode == "on_verdict_sampled":
        forwarding["keep"] = [{"when": {"failed": True}}, {"sample_rate": sample_rate}]
    return {**VERDICTS, "forwarding": forwarding}


def keep_rule(mode: str, sample_rate: float) -> str:
    if mode == "immediate":
        return "none: every span forwarded on arrival"
    rest = f", {{sample_rate: {sample_rate}}}" if mode == "on_verdict_sampled" else ""
    return f"[{{when: {{failed: true}}}}{rest}]"


def expected_kept(mode: str, session: ChatSession, sample_rate: float) -> bool:
    if mode == "immediate" or session.failing:
        return True
    return mode == "on_verdict_sampled" and draw(SessionKey(TENANT, session.id)) < sample_rate


class Downstream:
    """What the record-sink role received: span bytes and spans per trace, carriers apart, arrivals."""

    def __init__(self) -> None:
        self.span_bytes = self.span_requests = self.mixed = 0
        self.carrier_bytes = self.carrier_requests = self.verdict_spans = 0
        self.spans: Counter[bytes] = Counter()
        self.arrivals: list[tuple[float, bytes, int]] = []  # (time, trace id, spans)
        self.decisions: dict[str, list[str]] = {}  # session id -> decisions, in arrival order

    def take(self, line: str) -> None:
        if not line.startswith("{"):
            return
        r = json.loads(line)
        if r["verdict_spans"]:
            self.carrier_bytes += r["bytes"]
            self.carrier_requests += 1
            self.verdict_spans += r["verdict_spans"]
            self.mixed += bool(r["traces"])
            for session_id, decision in r["carriers"]:
                self.decisions.setdefault(session_id, []).append(decision)
        else:
            self.span_bytes += r["bytes"]
            self.span_requests += 1
        for hex_id, n in r["traces"].items():
            tid = bytes.fromhex(hex_id)
            self.spans[tid] += n
            self.arrivals.append((r["t"], tid, n))

    def kept(self, session: ChatSession) -> bool:
        """Forwarded whole under its last decision (immediate: carriers without a decision)."""
        return self.decisions.get(session.id, ["kept"])[-1] in ("kept", "")

    def complete(self, sessions: list[ChatSession]) -> bool:
        return all(s.id in self.decisions for s in sessions) and all(
            self.spans[t.trace_id] >= t.spans for s in sessions if self.kept(s) for t in s.traces
        )


def forwarding_run(redis_url: str, redis_pid: int, sessions: list[ChatSession], mode: str, args) -> dict:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    sink_port = free_port()
    sink = start_role("record-sink", str(sink_port))
    lines = LineReader(sink)
    wait_port(sink_port)
    service = ServiceProcess(redis_url, sink_port, mode_overrides(mode, args.sample_rate))
    downstream = Downstream()
    try:
        service.start()
        time.sleep(0.5)
        kinds = keys_by_kind(client)
        before = used_memory(client)
        meter = CpuMeter()
        cpu = tree_cpu(service.pid) + cpu_seconds(redis_pid)
        sent = asyncio.run(send(service.endpoint, sessions, args.rate, args.turn_gap))
        deadline = time.monotonic() + args.timeout
        while not downstream.complete(sessions) and time.monotonic() < deadline:
            line = lines.get(0.2)
            if line:
                downstream.take(line)
        quiet_until = time.monotonic() + QUIET_S
        while (left := quiet_until - time.monotonic()) > 0:
            line = lines.get(left)
            if line:
                downstream.take(line)
        cpu = tree_cpu(service.pid) + cpu_seconds(redis_pid) - cpu
        machine = meter.read()
        after = used_memory(client)
        kinds = grown(kinds, keys_by_kind(client))
    finally:
        service.stop()
        stop_procs([sink])
    row = figures(mode, sessions, sent, downstream, cpu, machine, args)
    row["redis_after_verdicts"] = {
        "used_memory_growth_per_session": round((after - before) / len(sessions)),
        "memory_usage_per_session": round(sum(k["memory_usage_bytes"] for k in kinds.values()) / len(sessions)),
        "by_kind": kinds,
    }
    return row


def figures(mode: str, sessions, sent: dict, downstream: Downstream, cpu: float, machine: dict, args) -> dict:
    n = len(sessions)
    trace_of = {t.trace_id: (s, t) for s in sessions for t in s.traces}
    end_sent = {s.id: sent["sent_at"][s.end.trace_id] for s in sessions}
    from_own, from_end = [], []
    for arrived, tid, count in downstream.arrivals:
        session, _ = trace_of[tid]
        from_own += [arrived - sent["sent_at"][tid]] * count
        from_end += [arrived - end_sent[session.id]] * count
    kept = [s for s in sessions if downstream.decisions.get(s.id) and downstream.kept(s)]
    should_keep = [s for s in sessions if expected_kept(mode, s, args.sample_rate)]
    extra = sum(max(0, downstream.spans[t] - trace_of[t][1].spans) for t in downstream.spans)
    missing = sum(max(0, t.spans - downstream.spans[t.trace_id]) for s in should_keep for t in s.traces)
    not_kept = {s.id for s in sessions} - {s.id for s in should_keep}
    leaked = sum(c for t, c in downstream.spans.items() if trace_of[t][0].id in not_kept)
    sessions_per_s = n / sent["wall_s"]
    per_session = downstream.span_bytes / n
    held = mode != "immediate"
    return {
        "bench": "forwarding",
        "mode": mode,
        "keep": keep_rule(mode, args.sample_rate),
        "sessions": n,
        "failing_sessions": sum(s.failing for s in sessions),
        "verdicts_received": sum(1 for s in sessions if s.id in downstream.decisions),
        "sessions_forwarded": len(kept),
        "sessions_expected_forwarded": len(should_keep),
        "decisions": dict(Counter(d for ds in downstream.decisions.values() for d in ds if d)),
        "spans_sent": sum(s.spans for s in sessions),
        "span_bytes_sent": sum(len(t.request) for s in sessions for t in s.traces),
        "span_bytes_sent_of_sessions_forwarded": sum(len(t.request) for s in kept for t in s.traces),
        "spans_forwarded": sum(downstream.spans.values()),
        "span_bytes_forwarded": downstream.span_bytes,
        "span_requests_forwarded": downstream.span_requests,
        "spans_forwarded_twice": extra,
        "spans_missing": missing,
        "spans_of_dropped_sessions_forwarded": leaked,
        "carriers": sum(map(len, downstream.decisions.values())),
        "verdict_spans": downstream.verdict_spans,
        "carrier_requests": downstream.carrier_requests,
        "carrier_bytes": downstream.carrier_bytes,
        "requests_with_carriers_and_spans": downstream.mixed,
        "send_wall_s": round(sent["wall_s"], 2),
        "sessions_per_s": round(sessions_per_s, 2),
        "span_bytes_forwarded_per_session": round(per_session),
        "span_bytes_forwarded_per_hour": round(per_session * sessions_per_s * 3600),
        "carrier_bytes_per_hour": round(downstream.carrier_bytes / n * sessions_per_s * 3600),
        # Held: from the end span's Export call (on_verdict) / from the span's own call (immediate).
        "delay_from_end_span": summary_ms(from_end) if held else None,
        "delay_from_own_send": summary_ms(from_own),
        "service_and_redis_cpu_s": round(cpu, 2),
        **machine,
        "export_refused": sent["refused"],
    }


def memory_run(redis_url: str, sessions: list[ChatSession], mode: str, args) -> dict:
    """All sessions buffered and none judged (settle delay an hour): Redis memory, by kind of key."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    sink_port = free_port()
    sink = start_role("sink", str(sink_port))
    wait_port(sink_port)
    overrides = {**mode_overrides(mode, args.sample_rate), "session": {"settle_delay_s": 3600}}
    service = ServiceProcess(redis_url, sink_port, overrides)
    try:
        service.start()
        time.sleep(0.5)
        kinds = keys_by_kind(client)
        before = used_memory(client)
        sent = asyncio.run(send(service.endpoint, sessions, 0, 0))
        time.sleep(1.5)  # client query buffers shrink in serverCron
        after = used_memory(client)
        kinds = grown(kinds, keys_by_kind(client))
        trace_keys = [k for k in client.keys("*") if kind_of(k) == "t"]
        trace_ttl = client.ttl(trace_keys[0]) if trace_keys else None
        judged = kinds.get("r", {}).get("keys", 0)
    finally:
        service.stop()
        stop_procs([sink])
    n = len(sessions)
    return {
        "mode": mode,
        "used_memory_growth": after - before,
        "used_memory_per_session": round((after - before) / n),
        "memory_usage_per_session": round(sum(k["memory_usage_bytes"] for k in kinds.values()) / n),
        "by_kind": kinds,
        "trace_hash_ttl_s": trace_ttl,
        "sessions_judged": judged,
        "send_wall_s": round(sent["wall_s"], 2),
    }


def memory_figures(runs: dict[str, dict], sessions: list[ChatSession]) -> dict:
    n = len(sessions)
    immediate, held = runs["immediate"], runs["on_verdict"]
    extra_kinds = {}
    for kind in sorted(set(immediate["by_kind"]) | set(held["by_kind"])):
        a = immediate["by_kind"].get(kind, {}).get("memory_usage_bytes", 0)
        b = held["by_kind"].get(kind, {}).get("memory_usage_bytes", 0)
        if a != b:
            extra_kinds[kind] = round((b - a) / n, 1)
    return {
        "bench": "forwarding",
        "part": "redis_memory",
        "sessions": n,
        "spans": sum(s.spans for s in sessions),
        "what": "all sessions buffered, none judged (settle_delay_s 3600), per mode",
        "runs": list(runs.values()),
        "extra_used_memory_per_held_session": round((held["used_memory_growth"] - immediate["used_memory_growth"]) / n),
        "extra_memory_usage_per_held_session": held["memory_usage_per_session"] - immediate["memory_usage_per_session"],
        "extra_memory_usage_per_held_session_by_kind": extra_kinds,
        "spans_kept_in_redis_s": SessionConfig.ttl_s,
        "spans_kept_in_redis": "both modes: session.ttl_s after the session's last span (judging reads them)",
    }


def summary(rows: list[dict], memory: dict, runtime_s: float) -> dict:
    base = rows[0]
    base_total = base["span_bytes_forwarded"] + base["carrier_bytes"]
    modes = {}
    for row in rows:
        total = row["span_bytes_forwarded"] + row["carrier_bytes"]
        from_end, from_own = row["delay_from_end_span"] or {}, row["delay_from_own_send"]
        modes[row["mode"]] = {
            "sessions_forwarded": row["sessions_forwarded"],
            "spans_forwarded": row["spans_forwarded"],
            "span_bytes_forwarded": row["span_bytes_forwarded"],
            "span_bytes_forwarded_per_hour": row["span_bytes_forwarded_per_hour"],
            "ratio_to_immediate": row["ratio_to_immediate"],
            "carrier_bytes": row["carrier_bytes"],
            "with_carriers_ratio_to_immediate": round(total / max(base_total, 1), 4),
            "delay_from_end_span_p50_ms": from_end.get("p50_ms"),
            "delay_from_end_span_p99_ms": from_end.get("p99_ms"),
            "delay_from_own_send_p50_ms": from_own.get("p50_ms"),
            "delay_from_own_send_p99_ms": from_own.get("p99_ms"),
            "service_and_redis_cpu_s": row["service_and_redis_cpu_s"],
            "correct": not (row["spans_forwarded_twice"] or row["spans_missing"])
            and not row["spans_of_dropped_sessions_forwarded"]
            and row["sessions_forwarded"] == row["sessions_expected_forwarded"]
            and row["verdicts_received"] == row["sessions"],
        }
    held = next((row for row in rows if row["mode"] == "on_verdict"), None)
    after = None
    if held is not None:
        after = (
            held["redis_after_verdicts"]["memory_usage_per_session"]
            - base["redis_after_verdicts"]["memory_usage_per_session"]
        )
    return {
        "bench": "forwarding",
        "summary": True,
        "modes": modes,
        "delay": "on_verdict: from the end span's Export call to the kept span's arrival downstream (settle delay + "
        "judging + release); from own send: from the Export call that carried the span (immediate: forwarding alone)",
        "per_hour_assumes": "the same sessions (turns, sizes, failure rate) keep coming at the rate this run sent "
        "them (sessions / wall time of sending, paced by --rate), forwarded bytes in proportion to sessions",
        "redis_bytes_per_buffered_session": memory["runs"][0]["memory_usage_per_session"],
        "extra_redis_bytes_per_held_session": memory["extra_memory_usage_per_held_session"],
        "extra_used_memory_per_held_session": memory["extra_used_memory_per_held_session"],
        # What stays after the verdict (a "joined" hash per trace, the decision, sent marks) lives as
        # long as the spans: at this run's rate, sessions of a whole session.ttl_s carry it.
        "extra_redis_bytes_per_session_after_verdict": after,
        "extra_redis_bytes_at_this_rate": round(after * base["sessions_per_s"] * SessionConfig.ttl_s)
        if after is not None
        else None,
        "spans_in_redis_s": f"{SessionConfig.ttl_s} (session.ttl_s after the last span) in every mode",
        "settle_delay_s": SessionConfig.settle_delay_s,
        "hold_max_s": ForwardingConfig.hold_max_s,
        "runtime_s": round(runtime_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0]
        + " Prints one JSON line per forwarding run, one for Redis memory, then a summary line."
    )
    parser.add_argument(
        "--sessions", type=int, default=200, help="chat sessions sent in each run, 3-5 turns each (%(default)s)"
    )
    parser.add_argument(
        "--failure-rate",
        type=float,
        default=0.1,
        help="share of the sessions whose last answer is empty, so that they fail (%(default)s)",
    )
    parser.add_argument(
        "--sample-rate",
        type=float,
        default=0.05,
        help="on_verdict_sampled: the share of the sessions that did not fail its second keep rule keeps (%(default)s)",
    )
    parser.add_argument("--rate", type=float, default=20, help="sessions started per second, open loop (%(default)s)")
    parser.add_argument(
        "--turn-gap", type=float, default=0.2, help="seconds between a session's Export calls (%(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60,
        help="seconds a forwarding run waits, after sending, for every verdict and kept span (%(default)s)",
    )
    parser.add_argument(
        "--mode",
        action="append",
        choices=["immediate", "on_verdict", "on_verdict_sampled"],
        help="a forwarding run, repeatable (none given: all three); immediate always runs, first, as the "
        "base of the ratios; the memory runs (immediate, on_verdict) always run",
    )
    args = parser.parse_args()
    modes = ["immediate", *(m for m in ("on_verdict", "on_verdict_sampled") if m in (args.mode or [m]))]
    os.environ.pop(UNSET_KEY_ENV, None)
    started = time.monotonic()

    sessions = make_sessions(args.sessions, args.failure_rate)
    redis_server = EmbeddedRedis()
    try:
        redis_url = redis_server.start()
        assert redis_server.pid is not None
        rows = []
        for mode in modes:
            row = forwarding_run(redis_url, redis_server.pid, sessions, mode, args)
            row["ratio_to_immediate"] = (
                round(row["span_bytes_forwarded"] / max(rows[0]["span_bytes_forwarded"], 1), 4) if rows else 1.0
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
        memory = memory_figures({m: memory_run(redis_url, sessions, m, args) for m in MEMORY_MODES}, sessions)
        print(json.dumps(memory), flush=True)
        print(json.dumps(summary(rows, memory, time.monotonic() - started)), flush=True)
    finally:
        redis_server.stop()


if __name__ == "__main__":
    sys.exit(main())
