"""A real HTTP server for the backends' tests, on a free port, in the test's own event loop: a
handler for its paths, and a script of answers it gives first, before the handler, the way an
outage, a rate limit or a refusal looks to a client. It keeps every request it was sent."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.support.config import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Scripted:
    path: str | None  # None: any path
    status: int
    headers: dict[str, str]
    body: str | None  # None: a JSON message


class FakeHttp:
    def __init__(self, paths: str | list[str], handler: Handler):
        self.paths = [paths] if isinstance(paths, str) else paths
        self._handler = handler
        self.script: list[_Scripted] = []
        self.received: list[Received] = []  # every request, scripted answers included
        self.delay_s = 0.0  # before every answer, the way a slow server looks
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        return len(self.received)

    def answer_first(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next `times` requests (to path only, when given) with status before the handler."""
        self.script += [_Scripted(path, status, headers or {}, body)] * times

    def _next_scripted(self, path: str) -> _Scripted | None:
        for i, scripted in enumerate(self.script):
            if scripted.path in (None, path):
                return self.script.pop(i)
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(Received(request.path, dict(request.query), dict(request.headers), await request.read()))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        scripted = self._next_scripted(request.path)
        if scripted is None:
            return await self._handler(request)
        if scripted.body is None:
            return web.json_response({"message": "scripted"}, status=scripted.status, headers=scripted.headers)
        return web.Response(status=scripted.status, headers=scripted.headers, text=scripted.body)

    async def __aenter__(self) -> FakeHttp:
        app = web.Application()
        for path in self.paths:
            app.router.add_post(path, self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()


class InThread:
    """Runs a FakeHttp on its own event loop in a thread, for a test whose client (the service) runs
    elsewhere: `with InThread(FakeLangfuse()) as server: ...`."""

    def __init__(self, server: FakeHttp):
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeHttp:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self._loop).result(10)
        return self.server

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.__aexit__(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
