"""Shared fixtures: a private redis-server per test session on a free port, a real OTLP/gRPC
downstream, a real OpenAI-compatible judge server, and the service itself."""

from __future__ import annotations

import itertools

import pytest

from collector_eval.control.client import ControlClient
from collector_eval.runtime.config import config_from_dict
from collector_eval.store.server import EmbeddedRedis
from tests.support.config import deep_merge, free_port
from tests.support.judge_server import JudgeServer
from tests.support.otlp_sink import OtlpSink
from tests.support.redis_cluster import EmbeddedCluster
from tests.support.service_thread import ServiceThread
from tests.support.spans import Client

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def redis_url():
    server = EmbeddedRedis(port=free_port())
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster_url():
    cluster = EmbeddedCluster()
    url = cluster.start()
    yield url
    cluster.stop()


@pytest.fixture
def sink():
    s = OtlpSink().start()
    yield s
    s.stop()


@pytest.fixture
def judge():
    with JudgeServer() as server:
        yield server


@pytest.fixture
def make_config(redis_url, sink, judge, monkeypatch):
    """A config wired to this test's Redis (own key prefix), downstream and judge; overrides merge in."""
    monkeypatch.setenv("COLLECTOR_EVAL_TEST_KEY", "sk-test-not-a-real-key")

    def make(**overrides):
        data = {
            "receiver": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}},
            "redis": {"url": redis_url, "key_prefix": f"t{next(_prefixes)}"},
            "session": {"settle_delay_s": 0.2},
            "judge": {"base_url": judge.url, "api_key_env": "COLLECTOR_EVAL_TEST_KEY", "timeout_s": 5},
            "jobs": {"poll_interval_s": 0.05},
            # A free port: the default 4320 would clash between the services a test starts.
            "control": {"endpoint": "127.0.0.1:0"},
            "exporters": {"otlp": {"endpoint": sink.endpoint}},
            # Free ports, as for control: the defaults 4318 and 8888 would clash likewise.
            "telemetry": {"metrics_endpoint": "127.0.0.1:0"},
        }
        # Merged key by key, so an override of receiver.grpc.auth keeps the free port beside it.
        return config_from_dict(deep_merge(data, overrides))

    return make


@pytest.fixture
def service(make_config):
    """Start a service with make_config(**overrides); stopped at teardown."""
    started: list[ServiceThread] = []

    def start(**overrides) -> ServiceThread:
        st = ServiceThread(make_config(**overrides)).start()
        started.append(st)
        return st

    yield start
    for st in started:
        st.stop()


@pytest.fixture
def client_for():
    clients: list[Client] = []

    def make(endpoint: str, **kwargs) -> Client:
        c = Client(endpoint, **kwargs)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def control():
    clients: list[ControlClient] = []

    def make(endpoint: str, **kwargs) -> ControlClient:
        client = ControlClient(endpoint, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
