"""Runs the real Service on its own event loop in a thread, so a test can drive it with blocking
clients (the OpenTelemetry SDK, grpc) from the main thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from collector_eval.config.checks import ConfigError
from collector_eval.runtime.config import Config
from collector_eval.runtime.service import Service


class ServiceThread:
    def __init__(self, cfg: Config, **service_kwargs):
        self.service = Service(cfg, **service_kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> ServiceThread:
        self._thread.start()
        self.call(self.service.start())
        return self

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.service.port}"

    @property
    def control_endpoint(self) -> str:
        return f"127.0.0.1:{self.service.control_port}"

    def call(self, coro, timeout_s: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def stop(self) -> None:
        try:
            self.call(self.service.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


def start_fails(make_config, **overrides) -> str:
    """The ConfigError a service started with make_config(**overrides) fails with."""
    st = ServiceThread(make_config(**overrides))
    try:
        with pytest.raises(ConfigError) as info:
            st.start()
    finally:
        st.stop()
    return str(info.value)
