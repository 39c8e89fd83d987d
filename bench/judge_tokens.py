"""Judge input tokens per session, for every recorded corpus session, against the plain dump of every
span's attributes that a naive judge would get.

Each corpus session is sent whole (one Export call) to collector-eval with the goal_completeness
evaluator and a judge that is tests/judge_server.py's JudgeServer, which records the Chat Completions
request it is sent; the benchmark waits for the session's verdict at the downstream before the next.
Judge input tokens are the tokens of the request's messages (system + user), counted with
collector_eval.evaluation.tokens.count_tokens (cl100k_base, the counter the service budgets with). The naive dump
is the JSON list, one object per span, of all the attributes of all the session's spans, counted the
same way. The JSON schema sent as `response_format` is counted apart (it is the same for every
session).

Prints one JSON line of figures. Usage: python bench/judge_tokens.py
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time

from common import (
    EmbeddedRedis,
    LineReader,
    ServiceProcess,
    any_value,
    corpus_folders,
    corpus_session,
    exporters,
    free_port,
    iter_spans,
    judge_config,
    start_role,
    stop_procs,
    wait_port,
)

from tests.support.judge_server import JudgeServer, goal_completeness_answer

try:
    from collector_eval.evaluation.tokens import count_tokens

    COUNTER = "collector_eval.evaluation.tokens.count_tokens (tiktoken cl100k_base)"
except ImportError:  # a tree without the tokenizer: the rule of thumb

    def count_tokens(text: str) -> int:
        return math.ceil(len(text) / 4)

    COUNTER = "ceil(chars / 4)"


def naive_dump(request) -> str:
    return json.dumps(
        [{kv.key: any_value(kv.value) for kv in span.attributes} for _, _, span in iter_spans(request)],
        ensure_ascii=False,
    )


def send(endpoint: str, raw: bytes) -> None:
    import asyncio

    async def go() -> None:
        channels, calls = exporters(endpoint, 1)
        await calls[0](raw, timeout=30)
        for ch in channels:
            await ch.close()

    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for each verdict")
    parser.parse_args()

    procs = []
    redis_server = EmbeddedRedis()
    judge = JudgeServer(default=goal_completeness_answer(True)).start()
    sessions = []
    try:
        redis_url = redis_server.start()
        sink_port = free_port()
        sink = start_role("carrier-sink", str(sink_port))
        procs.append(sink)
        lines = LineReader(sink)
        wait_port(sink_port)
        overrides = {"session": {"settle_delay_s": 0}, "jobs": {"poll_interval_s": 0.01}, **judge_config(judge.url)}
        service = ServiceProcess(redis_url, sink_port, overrides, judge_key=True).start()
        try:
            for folder in corpus_folders():
                request, expected = corpus_session(folder)
                seen = len(judge.requests)
                send(service.endpoint, request.SerializeToString())
                deadline = time.monotonic() + 30
                arrived = False
                while not arrived and time.monotonic() < deadline:
                    line = lines.get(0.5)
                    arrived = bool(line) and line.rsplit(" ", 1)[0] == expected["session_id"]
                asked = judge.requests[seen:]
                dump_tokens = count_tokens(naive_dump(request))
                row = {
                    "session": folder,
                    "spans": sum(1 for _ in iter_spans(request)),
                    "verdict": arrived,
                    "judge_requests": len(asked),
                    "naive_dump_tokens": dump_tokens,
                }
                if asked:
                    messages = asked[0]["messages"]
                    user = "".join(m["content"] for m in messages if m["role"] == "user")
                    block = re.search(r"<transcript>\n(.*)\n</transcript>", user, re.DOTALL)
                    input_tokens = sum(count_tokens(m["content"]) for m in messages)
                    schema_tokens = count_tokens(json.dumps(asked[0].get("response_format", "")))
                    row.update(
                        judge_input_tokens=input_tokens,
                        transcript_tokens=count_tokens(block.group(1)) if block else None,
                        system_prompt_tokens=sum(count_tokens(m["content"]) for m in messages if m["role"] == "system"),
                        response_format_tokens=schema_tokens,
                        ratio=round(input_tokens / dump_tokens, 3),
                        # OpenAI bills a json_schema response format as input tokens too.
                        ratio_with_response_format=round((input_tokens + schema_tokens) / dump_tokens, 3),
                    )
                else:
                    row.update(judge_input_tokens=0, note="no judge call (evaluation skipped: no message content)")
                sessions.append(row)
        finally:
            service.stop()
    finally:
        stop_procs(procs)
        judge.stop()
        redis_server.stop()

    judged = [s for s in sessions if s["judge_requests"]]
    total_in = sum(s["judge_input_tokens"] for s in judged)
    total_dump = sum(s["naive_dump_tokens"] for s in judged)
    figures = {
        "bench": "judge_tokens",
        "evaluator": "goal_completeness",
        "token_counter": COUNTER,
        "sessions": sessions,
        "judged_sessions": len(judged),
        "total_judge_input_tokens": total_in,
        "total_naive_dump_tokens": total_dump,
        "ratio_total": round(total_in / total_dump, 3) if total_dump else None,
        "ratio_max": max((s["ratio"] for s in judged), default=None),
        "ratio_with_response_format_total": round(
            sum(s["judge_input_tokens"] + s["response_format_tokens"] for s in judged) / total_dump, 3
        )
        if total_dump
        else None,
        "ratio_with_response_format_max": max((s["ratio_with_response_format"] for s in judged), default=None),
        "ratio_transcript_only_total": round(sum(s["transcript_tokens"] or 0 for s in judged) / total_dump, 3)
        if total_dump
        else None,
        "target_ratio": 0.3,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
