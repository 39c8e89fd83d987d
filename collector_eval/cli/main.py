"""The command line: one module per command (serve, check-config, transcript, evaluators, evaluate,
sessions, demo); this one builds the parser and runs the command chosen."""

from __future__ import annotations

import argparse
import sys

from collector_eval import __version__
from collector_eval.cli import (
    check_config,
    demo,
    evaluate,
    evaluators,
    serve,
    sessions,
    transcript,
)
from collector_eval.config.checks import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="collector-eval",
        description="Session-level LLM evaluation as a stage of an OpenTelemetry pipeline: receives OTLP "
        "traces, forwards them unchanged, buffers chat sessions in Redis and sends judges' verdicts "
        "downstream as gen_ai.evaluation.result span events.",
    )
    parser.add_argument("--version", action="version", version=f"collector-eval {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # Each command's module adds its subcommand and the function that runs it (args.run).
    for command in (serve, check_config, transcript, evaluators, evaluate, sessions, demo):
        command.add_parser(sub)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"collector-eval: config error: {exc}", file=sys.stderr)
        return 2
