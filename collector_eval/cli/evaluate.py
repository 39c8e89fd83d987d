"""`collector-eval evaluate FILE`: judges the sessions of an OTLP/JSON file offline, with no Redis and
no server, through the same code the service's worker judges with. For backfills, and for trying a
custom judge on recorded data."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from collector_eval.model import Trigger
from collector_eval.runtime.config import Config, load_config


def add_parser(sub) -> None:
    evaluate = sub.add_parser(
        "evaluate",
        help="judge the sessions of OTLP/JSON trace (and log) files offline (no Redis, no server); one JSON line per session",
    )
    evaluate.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        help='OTLP/JSON files: traces ({"resourceSpans": [...]}) and logs ({"resourceLogs": [...]}); or one object per line',
    )
    evaluate.add_argument(
        "--config", metavar="FILE", help="config file: evaluators, judge, session id attributes and tenant key"
    )
    evaluate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from collector_eval.otlp.json_format import load_otlp_files

    cfg = load_config(args.config)
    try:
        request, logs = load_otlp_files(args.files)
    except (OSError, ValueError) as exc:
        print(f"collector-eval: {exc}", file=sys.stderr)
        return 1
    for line in asyncio.run(evaluate_request(cfg, request, list(logs.resource_logs))):
        print(json.dumps(line, ensure_ascii=False))
    return 0


async def evaluate_request(cfg: Config, request, resource_logs: list | None = None) -> list[dict]:
    """The console form of each session's verdict (export/carrier.verdict_to_dict), in file order;
    revision 0 and trigger "offline", since no service judged it."""
    from collector_eval.evaluation.evaluators import build_evaluators
    from collector_eval.evaluation.judge.client import Judge
    from collector_eval.evaluation.judging import SessionJudging
    from collector_eval.evaluation.transcript.messages import iter_spans
    from collector_eval.export.carrier import verdict_to_dict
    from collector_eval.model import StoredSession
    from collector_eval.sessions.router import SessionRouter, group_sessions

    evaluators = build_evaluators(cfg.evaluators)
    judge = Judge(cfg.judge)
    if not judge.enabled and any(ev.needs_judge for ev in evaluators):
        print(f"collector-eval: {judge.disabled_reason}; judge evaluations are skipped", file=sys.stderr)
    sessions = []
    for key, resource_spans in group_sessions(request, SessionRouter(cfg.session)).items():
        spans = list(iter_spans(resource_spans))
        # The verdict hangs under the session's last span, as in the service when no end span names one.
        last = max(spans, key=lambda span: span.end_time_unix_nano)
        sessions.append(
            StoredSession(
                key=key,
                end_trace_id=last.trace_id,
                end_span_id=last.span_id,
                id_attribute="",
                resource_spans=resource_spans,
                resource_logs=resource_logs or [],
                span_count=len(spans),
                trigger=Trigger.OFFLINE,
            )
        )
    try:
        # Sessions are judged concurrently; judge.max_concurrency bounds the requests in flight.
        judging = SessionJudging(
            evaluators, judge, cfg.judge.model, cfg.judge.max_input_tokens, cfg.redaction, cfg.transcript
        )
        verdicts = await asyncio.gather(*(judging.run(s) for s in sessions))
    finally:
        await judge.aclose()
    return [verdict_to_dict(v) for v in verdicts]
