"""A real HTTP server for the backends' tests, on a free port, in the test's own event loop: a
handler per path, and a script of answers (status, headers) it gives first, before the handler,
the way an outage or a rate limit looks to a client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

from tests.support.config import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeHttp:
    def __init__(self, path: str, handler: Handler):
        self.path = path
        self._handler = handler
        self.script: list[tuple[int, dict[str, str]]] = []
        self.requests = 0  # every request, scripted answers included
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def answer_first(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        self.script += [(status, headers or {})] * times

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.script:
            status, headers = self.script.pop(0)
            await request.read()
            return web.json_response({"message": "scripted"}, status=status, headers=headers)
        return await self._handler(request)

    async def __aenter__(self) -> FakeHttp:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
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
