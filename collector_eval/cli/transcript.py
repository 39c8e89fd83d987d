"""`collector-eval transcript FILE`: the conversation of each session in an OTLP/JSON file, as the
judge would be shown it."""

from __future__ import annotations

import json
import sys

from collector_eval.evaluation.transcript.builder import build_transcript
from collector_eval.otlp.json_format import load_otlp_files
from collector_eval.runtime.config import load_config
from collector_eval.sessions.router import SessionRouter, group_sessions


def add_parser(sub) -> None:
    transcript = sub.add_parser(
        "transcript",
        help="print the conversation of each session in OTLP/JSON trace and log files, one JSON line per session",
    )
    transcript.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        help='OTLP/JSON files: traces ({"resourceSpans": [...]}) and, where the instrumentation puts the '
        'conversation there, logs ({"resourceLogs": [...]}); or one such object per line',
    )
    transcript.add_argument(
        "--config", metavar="FILE", help="config file: session id attributes, tenant key and transcript.mappings"
    )
    transcript.set_defaults(run=lambda args: run(args.files, args.config))


def run(paths: list[str], config_path: str | None) -> int:
    cfg = load_config(config_path)
    try:
        request, logs = load_otlp_files(paths)
    except (OSError, ValueError) as exc:
        print(f"collector-eval: {exc}", file=sys.stderr)
        return 1
    for key, spans in group_sessions(request, SessionRouter(cfg.session)).items():
        transcript = build_transcript(spans, logs.resource_logs, cfg.transcript)
        line: dict[str, object] = {
            "session_id": key.session_id,
            "tenant": key.tenant,
            "status": "ok" if transcript.has_content else "no_content",
            "turns": transcript.to_dicts(),
        }
        # Only when there is something to say, so a well-read session prints as it always did.
        if transcript.warnings:
            line["warnings"] = transcript.warnings
        if not transcript.has_content:
            line["explanation"] = transcript.no_content_explanation
        print(json.dumps(line, ensure_ascii=False))
    return 0
