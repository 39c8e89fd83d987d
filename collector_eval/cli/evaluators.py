"""`collector-eval evaluators`: the built-in evaluators, as a table or JSON."""

from __future__ import annotations

import json

from collector_eval.evaluation.evaluators.catalog import catalog, table


def add_parser(sub) -> None:
    evaluators = sub.add_parser(
        "evaluators", help="list the built-in evaluators: level, labels or score, pass criterion, judge"
    )
    evaluators.add_argument("--json", action="store_true", help="one JSON array, for machines")
    evaluators.set_defaults(run=lambda args: run(args.json))


def run(as_json: bool) -> int:
    rows = catalog()
    print(json.dumps(rows, indent=2) if as_json else table(rows))
    return 0
