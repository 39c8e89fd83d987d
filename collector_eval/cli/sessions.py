"""`collector-eval sessions list|show|end|reevaluate`: the control API from the command line. JSON with
--json, else lines for people. Exit status 1 when the service refuses or cannot be reached."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

# The token is read from here when --token is not given, so it need not appear in `ps` output.
TOKEN_ENV = "COLLECTOR_EVAL_TOKEN"


def add_client_arguments(parser: argparse.ArgumentParser, default_endpoint: str, flag: str = "--endpoint") -> None:
    parser.add_argument(flag, default=default_endpoint, help=f"control API host:port (default {default_endpoint})")
    parser.add_argument("--token", default=None, help=f"bearer token (default: ${TOKEN_ENV})")
    parser.add_argument(
        "--ca-file", default="", metavar="FILE", help="PEM CA that signed the service's certificate (TLS)"
    )
    parser.add_argument("--tls", action="store_true", help="TLS verified against the system's CAs")


def token_of(args: argparse.Namespace) -> str:
    return args.token if args.token is not None else os.environ.get(TOKEN_ENV, "")


def client_from(args: argparse.Namespace, endpoint: str):
    from collector_eval.control.client import ControlClient

    return ControlClient(endpoint, token=token_of(args), ca_file=args.ca_file, tls=args.tls)


def add_parser(sub) -> None:
    from collector_eval.control.client import DEFAULT_ENDPOINT

    sessions = sub.add_parser(
        "sessions", help="list, show, end or re-evaluate sessions of a running service (control API)"
    )
    actions = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="sessions buffered in Redis, a page at a time (Redis SCAN order)")
    listing.add_argument("--tenant", default="", help="only this tenant's sessions")
    listing.add_argument("--session-id", default="", help="only sessions with this id")
    listing.add_argument("--limit", type=int, default=50, help="sessions per page (default 50, at most 1000)")
    listing.add_argument("--page-token", default="", help="the next_page_token a previous page printed")
    listing.add_argument("--all", action="store_true", help="every page")
    for name, words in (
        ("show", "a session's state, counters, traces and the verdict of each revision"),
        ("end", "end a session now: judge it after the settle delay, as an end span would (trigger control)"),
        ("reevaluate", "judge a session again, now, as a new revision (trigger control)"),
    ):
        action = actions.add_parser(name, help=words)
        action.add_argument("session_id", metavar="SESSION_ID")
        action.add_argument(
            "--tenant", default="", help="the session's tenant (its service.name); found when only one has this id"
        )
    for action in actions.choices.values():
        add_client_arguments(action, DEFAULT_ENDPOINT)
        action.add_argument("--json", action="store_true", help="print JSON instead of lines for people")
    sessions.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import grpc

    from collector_eval.control.convert import session_dict

    try:
        with client_from(args, args.endpoint) as client:
            if args.action == "list":
                return _list(client, args)
            tenant = args.tenant or _only_tenant(client, args.session_id)
            if tenant is None:
                return 1
            if args.action == "show":
                session = client.get(tenant, args.session_id)
                extra: dict[str, int] = {}
            elif args.action == "end":
                session = client.end(tenant, args.session_id).session
                extra = {}
            else:
                reply = client.reevaluate(tenant, args.session_id)
                session, extra = reply.session, {"next_revision": reply.next_revision}
            if args.json:
                print(json.dumps({**session_dict(session), **extra}, ensure_ascii=False))
            else:
                if args.action == "end":
                    print(f"ended: judged at {_clock(session.due_at_unix)}")
                elif args.action == "reevaluate":
                    print(f"re-evaluating as revision {extra['next_revision']}")
                print(describe(session_dict(session)))
            return 0
    except grpc.RpcError as exc:
        print(f"collector-eval: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1


def _only_tenant(client, session_id: str) -> str | None:
    tenants = client.tenants_of(session_id)
    if len(tenants) == 1:
        return tenants[0]
    if tenants:
        print(
            f"collector-eval: session {session_id!r} exists in several tenants ({', '.join(tenants)}); give --tenant",
            file=sys.stderr,
        )
    else:
        print(f"collector-eval: NOT_FOUND: no buffered session has the id {session_id!r}", file=sys.stderr)
    return None


def _list(client, args) -> int:
    from collector_eval.control.convert import session_dict

    token, sessions = args.page_token, []
    while True:
        page = client.list(limit=args.limit, page_token=token, tenant=args.tenant, session_id=args.session_id)
        sessions += [session_dict(s) for s in page.sessions]
        token = page.next_page_token
        if not (args.all and token):
            break
    if args.json:
        print(json.dumps({"sessions": sessions, "next_page_token": token}, ensure_ascii=False))
        return 0
    rows = [("TENANT", "SESSION", "STATE", "SPANS", "REVISION", "LATEST VERDICT")]
    for s in sessions:
        latest = s["verdicts"][-1]["evaluations"] if s["verdicts"] else []
        rows.append(
            (
                s["tenant"],
                s["session_id"],
                s["state"],
                str(s["spans"]),
                str(s["revision"]),
                ", ".join(map(_brief, latest)) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    if token:
        print(f"more: --page-token {token}")
    return 0


def describe(s: dict) -> str:
    """A session as lines for people."""
    lines = [f"session {s['session_id']} (tenant {s['tenant']}): {s['state']}"]
    detail = f"  {s['spans']} spans, {s['bytes']} bytes in {len(s['trace_ids'])} traces"
    if s["truncated"]:
        detail += " (truncated by a cap)"
    lines.append(detail + f"; expires in {s['ttl_s']:.0f} s unless more spans arrive")
    if s["revision"]:
        lines.append(
            f"  revision {s['revision']}, trigger {s['trigger'] or '-'}, {s['unjudged_spans']} spans not yet judged"
        )
    if s["due_at_unix"]:
        lines.append(f"  scheduled for {_clock(s['due_at_unix'])} (trigger {s['trigger']})")
    for verdict in s["verdicts"]:
        lines.append(f"  verdict of revision {verdict['revision']}:")
        for e in verdict["evaluations"]:
            explanation = f": {e['explanation']}" if e["explanation"] else ""
            lines.append(f"    {_brief(e)}{explanation}")
    return "\n".join(lines)


def _brief(e: dict) -> str:
    if e["status"] == "ok":
        score = f" {e['score']:.2f}" if e["score"] is not None else ""
        return f"{e['name']} {e['label'] or ''}{score}".rstrip()
    return f"{e['name']} {e['status']} ({e['error_type']})"


def _clock(unix: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(unix)) if unix else "-"
