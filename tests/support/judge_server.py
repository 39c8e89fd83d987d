"""A real OpenAI-compatible Chat Completions server for tests, answering from a scripted queue.

It speaks plain HTTP on 127.0.0.1 so the real `openai` client (and its error mapping) is exercised.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union


@dataclass
class HttpError:
    """An error response: `body` is sent as JSON (a dict) or verbatim (a str)."""

    status: int
    body: dict[str, Any] | str = field(default_factory=lambda: {"error": {"message": "scripted error"}})
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Relayed:
    """Another server's answer, passed on as it came (status and body): see relay_to."""

    status: int
    body: str


# A content string becomes an assistant message; a dict is JSON-encoded into one; a callable gets the
# request body and returns any other reply (it runs in the handler thread, so it may sleep).
Reply = Union[str, dict, HttpError, Relayed, Callable[[dict], "Reply"]]  # noqa: UP007 (a string forward reference)


def relay_to(base_url: str, timeout_s: float = 300) -> Callable[[dict], Reply]:
    """A reply that forwards the request to a real server's /chat/completions and passes its answer on:
    with it as `default`, a JudgeServer is a recording proxy (its `requests` are the calls the judge made)."""

    def relay(request: dict) -> Reply:
        post = urllib.request.Request(
            f"{base_url.rstrip('/')}/chat/completions",
            data=json.dumps(request).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(post, timeout=timeout_s) as answer:
                return Relayed(answer.status, answer.read().decode())
        except urllib.error.HTTPError as refused:  # an error status is an answer too, passed on as it is
            return Relayed(refused.code, refused.read().decode())

    return relay


JSON_SCHEMA_REJECTED = HttpError(
    400,
    {
        "error": {
            "message": "response_format json_schema is not supported",
            "type": "invalid_request_error",
            "param": "response_format",
            "code": None,
        }
    },
)

# How other servers refuse a response_format type they lack, whatever the status: what a judge must
# read as "ask in another mode", not as a fault. The pydantic error is the one a request with
# {"type": "json_schema"} gets where the field is typed Literal["text", "json_object"].
_LITERAL_ERROR = {
    "type": "literal_error",
    "loc": ["body", "response_format", "type"],
    "msg": "Input should be 'text' or 'json_object'",
    "input": "json_schema",
    "ctx": {"expected": "'text' or 'json_object'"},
}
# llama-cpp-python's server (0.3.36, as make test-judges shows it): its route handler turns the
# request's validation error into a 500 (llama_cpp/server/errors.py), with where it was raised.
LLAMA_CPP_PYTHON_REFUSAL = HttpError(
    500,
    {
        "error": {
            "message": "1 validation error:\n  "
            + repr({**_LITERAL_ERROR, "loc": tuple(_LITERAL_ERROR["loc"])})
            + '\n\n  File "llama_cpp/server/app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions',
            "type": "internal_server_error",
            "param": None,
            "code": None,
        }
    },
)
# vLLM-style: a 400 whose message is the validation error, at the top level of the body.
VALIDATION_400_REFUSAL = HttpError(
    400,
    {"object": "error", "message": repr([_LITERAL_ERROR]), "type": "BadRequestError", "param": None, "code": 400},
)
# FastAPI's default answer to a request that fails validation.
VALIDATION_422_REFUSAL = HttpError(422, {"detail": [_LITERAL_ERROR]})

CONTEXT_LENGTH_EXCEEDED = HttpError(
    400,
    {
        "error": {
            "message": "This model's maximum context length is 128 tokens. However, your messages resulted in 4000 tokens.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    },
)


def goal_completeness_answer(*resolved: bool, explanation: str = "scripted verdict") -> dict:
    """A valid goal-completeness verdict with one intention per flag."""
    return {
        "intentions": [
            {"intention": f"goal {i}", "evidence": f"turn {i}", "resolved": flag} for i, flag in enumerate(resolved)
        ],
        "explanation": explanation,
    }


class JudgeServer:
    """Replies are consumed in order; when none is left, `default` answers (None: HTTP 500), by
    default a goal-completeness verdict with one resolved intention."""

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        default: Reply | None = goal_completeness_answer(True),
        reject_json_schema: bool = False,
        json_schema_refusal: HttpError = JSON_SCHEMA_REJECTED,
        prompt_tokens: int = 100,
        completion_tokens: int = 20,
    ) -> None:
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.default = default
        self.reject_json_schema = reject_json_schema
        # What a json_schema request is answered while reject_json_schema is set: one of the refusals above.
        self.json_schema_refusal = json_schema_refusal
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self._replies: deque[Reply] = deque(replies)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> JudgeServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # A short poll interval: stop() waits for the serve loop to notice, 0.5 s by default.
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="judge-server", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_reply(self, request: dict, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.paths.append(path)
            self.headers.append(headers)
            if self.reject_json_schema and (request.get("response_format") or {}).get("type") == "json_schema":
                return self.json_schema_refusal
            if self._replies:
                return self._replies.popleft()
        if self.default is None:
            return HttpError(500, {"error": {"message": "judge_server: no scripted reply left"}})
        return self.default

    def _completion(self, request: dict, content: str) -> dict:
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": 0,
            "model": request.get("model", "test-judge"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            },
        }


def _handler_for(server: JudgeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do; the client pools connections

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            # Any prefix: Azure puts the deployment in the path (/openai/deployments/NAME/chat/completions).
            if not self.path.split("?")[0].rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            request = json.loads(raw)
            reply = server._next_reply(request, self.path, {k.lower(): v for k, v in self.headers.items()})
            while callable(reply):
                reply = reply(request)
            if isinstance(reply, HttpError):
                self._send(reply.status, reply.body, reply.headers)
            elif isinstance(reply, Relayed):
                self._send(reply.status, reply.body)
            else:
                content = reply if isinstance(reply, str) else json.dumps(reply)
                self._send(200, server._completion(request, content))

        def _send(self, status: int, body: dict | str, headers: dict[str, str] | None = None) -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            try:
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    return Handler
