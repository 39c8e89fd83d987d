"""`collector-eval check-config FILE`: validate a config file and print the effective config."""

from __future__ import annotations

import dataclasses
import sys

import yaml

from collector_eval.runtime.config import load_config


def add_parser(sub) -> None:
    check = sub.add_parser("check-config", help="validate a config file and print the effective config")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(run=lambda args: run(args.file))


def run(path: str) -> int:
    cfg = load_config(path)
    print(f"{path}: ok", file=sys.stderr)
    print(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False), end="")
    return 0
