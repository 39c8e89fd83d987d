"""Shared fixtures: a private redis-server per test session on a free port, a real OTLP/gRPC
downstream, a real OpenAI-compatible judge server, and the service itself."""
from __future__ import annotations

import dataclasses
import itertools
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collector_eval.config import Config, config_from_dict  # noqa: E402
from collector_eval.redis_server import EmbeddedRedis  # noqa: E402
from judge_server import JudgeServer  # noqa: E402
from otlp_sink import OtlpSink  # noqa: E402
from redis_cluster import EmbeddedCluster  # noqa: E402
from service_thread import ServiceThread  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
_prefixes = itertools.count()


def deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def with_side_ports_off(config: dict) -> dict:
    """config with every listener that has a fixed default port (OTLP/HTTP, the control API,
    metrics: whichever Config has) turned off unless config names it: tests never take a well-known
    port, and two services never clash. The gRPC receiver and exporters are the caller's to set."""
    off: dict = {}

    def walk(obj, path: tuple[str, ...]) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, path + (f.name,))
            elif f.name.endswith("endpoint") and isinstance(value, str) and value and path[:1] != ("exporters",):
                if path != ("receiver", "grpc"):
                    node = off
                    for part in path:
                        node = node.setdefault(part, {})
                    node[f.name] = ""

    walk(Config(), ())
    return deep_merge(off, config)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
