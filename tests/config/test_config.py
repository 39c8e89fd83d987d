"""Unit tests of collector_eval/config.py: the defaults are the design contract, and every bad value is
refused with an error naming its full dotted key."""

from __future__ import annotations

import dataclasses

import pytest

from collector_eval.config.checks import ConfigError
from collector_eval.runtime.config import Config, config_from_dict, load_config


def _error(data) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    return str(info.value)


def test_defaults_are_the_design_contract():
    cfg = load_config(None)
    assert cfg.receiver.grpc.endpoint == "127.0.0.1:4317"
    assert cfg.receiver.grpc.max_recv_msg_size_mib == 16
    assert cfg.redis.url == ""
    assert cfg.session.id_attributes == [
        "session.id",
        "gen_ai.conversation.id",
        "langfuse.session.id",
        "traceloop.association.properties.session_id",
        "ai.telemetry.metadata.sessionId",
        "mlflow.traceTag.session_id",
    ]
    assert cfg.session.tenant_attribute == "service.name"
    assert cfg.session.end.attribute == "session_status"
    assert cfg.session.end.value == "completed"
    assert cfg.session.settle_delay_s == 2
    assert cfg.judge.provider == "openai"
    assert cfg.judge.model == "gpt-4o-mini"
    assert cfg.judge.base_url == ""
    assert cfg.judge.api_key_env == "OPENAI_API_KEY"
    assert [e.name for e in cfg.evaluators] == ["goal_completeness"]
    assert cfg.exporters.otlp.endpoint == ""
    assert cfg.receiver.http.endpoint == "127.0.0.1:4318"
    assert cfg.receiver.http.max_request_size_mib == 16
    assert cfg.telemetry.metrics_endpoint == "127.0.0.1:8888"
    assert cfg.control.endpoint == "127.0.0.1:4320"


def test_empty_http_and_telemetry_endpoints_turn_them_off():
    cfg = config_from_dict({"receiver": {"http": {"endpoint": ""}}, "telemetry": {"metrics_endpoint": ""}})
    assert cfg.receiver.http.endpoint == "" and cfg.telemetry.metrics_endpoint == ""


def test_empty_control_endpoint_turns_it_off():
    assert config_from_dict({"control": {"endpoint": ""}}).control.endpoint == ""


def test_default_lists_are_not_shared_between_configs():
    a, b = Config(), Config()
    a.session.id_attributes.append("x")
    a.evaluators[0].topics.append("y")
    assert "x" not in b.session.id_attributes and b.evaluators[0].topics == []


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_empty_file_gives_defaults(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    assert dataclasses.asdict(load_config(path)) == dataclasses.asdict(Config())


def test_empty_sections_give_defaults():
    cfg = config_from_dict({"receiver": None, "session": {"end": None}, "exporters": {"otlp": None}})
    assert dataclasses.asdict(cfg) == dataclasses.asdict(Config())


def test_file_values_override_defaults_and_keep_the_rest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "receiver:\n  grpc: {endpoint: '0.0.0.0:14317'}\n"
        "session:\n  settle_delay_s: 0\n  end: {value: done}\n"
        "judge: {model: llama3, base_url: 'http://127.0.0.1:11434/v1'}\n"
    )
    cfg = load_config(path)
    assert cfg.receiver.grpc.endpoint == "0.0.0.0:14317"
    assert cfg.receiver.grpc.max_recv_msg_size_mib == 16
    assert cfg.session.settle_delay_s == 0
    assert cfg.session.end.value == "done" and cfg.session.end.attribute == "session_status"
    assert cfg.judge.model == "llama3" and cfg.judge.api_key_env == "OPENAI_API_KEY"


def test_an_integer_is_accepted_for_a_number():
    cfg = config_from_dict({"receiver": {"grpc": {"max_recv_msg_size_mib": 4}}, "session": {"settle_delay_s": 1}})
    assert cfg.receiver.grpc.max_recv_msg_size_mib == 4.0
    assert isinstance(cfg.session.settle_delay_s, float)


@pytest.mark.parametrize(
    "data, key",
    [
        ({"session": {"settle_delay": 2}}, "session.settle_delay"),
        ({"bogus": 1}, "bogus"),
        ({"receiver": {"grpc": {"port": 4317}}}, "receiver.grpc.port"),
        ({"session": {"end": {"atribute": "x"}}}, "session.end.atribute"),
        ({"exporters": {"otlp": {"endpiont": "127.0.0.1:1"}}}, "exporters.otlp.endpiont"),
    ],
)
def test_unknown_key_is_named(data, key):
    message = _error(data)
    assert message.startswith(f"{key}:")
    assert "unknown key" in message


@pytest.mark.parametrize(
    "data, key",
    [
        ({"receiver": {"grpc": {"max_recv_msg_size_mib": "big"}}}, "receiver.grpc.max_recv_msg_size_mib"),
        ({"receiver": {"grpc": {"max_recv_msg_size_mib": True}}}, "receiver.grpc.max_recv_msg_size_mib"),
        ({"session": {"max_spans": 1.5}}, "session.max_spans"),
        ({"session": {"max_spans": True}}, "session.max_spans"),
        ({"session": {"settle_delay_s": "2"}}, "session.settle_delay_s"),
        ({"session": {"id_attributes": "session.id"}}, "session.id_attributes"),
        ({"session": {"id_attributes": ["session.id", {"a": "b"}]}}, "session.id_attributes[1]"),
        ({"session": {"id_attributes": ["session.id", "x", None]}}, "session.id_attributes[2]"),
        ({"session": {"end": {"tag_attributes": ["tags", ["nested"]]}}}, "session.end.tag_attributes[1]"),
        ({"session": {"end": "completed"}}, "session.end"),
        ({"exporters": {"otlp": {"insecure": "yes"}}}, "exporters.otlp.insecure"),
        ({"exporters": {"otlp": {"headers": ["a"]}}}, "exporters.otlp.headers"),
        ({"exporters": {"otlp": {"headers": {"authorization": ["x"]}}}}, "exporters.otlp.headers.authorization"),
        ({"evaluators": "goal_completeness"}, "evaluators"),
        ({"evaluators": ["goal_completeness", 3.5]}, "evaluators[1]"),
        ({"judge": {"model": True}}, "judge.model"),
    ],
)
def test_wrong_type_names_the_dotted_key(data, key):
    message = _error(data)
    assert message.startswith(f"{key}:"), message


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- receiver\n- session\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)


@pytest.mark.parametrize(
    "data, key",
    [
        ({"session": {"settle_delay_s": -1}}, "session.settle_delay_s"),
        ({"session": {"ttl_s": -5}}, "session.ttl_s"),
        ({"session": {"max_id_length": 0}}, "session.max_id_length"),
        ({"session": {"max_spans": -1}}, "session.max_spans"),
        ({"receiver": {"grpc": {"max_recv_msg_size_mib": -1}}}, "receiver.grpc.max_recv_msg_size_mib"),
        ({"receiver": {"grpc": {"max_recv_msg_size_mib": 0}}}, "receiver.grpc.max_recv_msg_size_mib"),
        ({"receiver": {"http": {"max_request_size_mib": 0}}}, "receiver.http.max_request_size_mib"),
        ({"judge": {"timeout_s": -0.5}}, "judge.timeout_s"),
        ({"judge": {"max_retries": -1}}, "judge.max_retries"),
        ({"judge": {"max_concurrency": 0}}, "judge.max_concurrency"),
        ({"exporters": {"otlp": {"queue_size": -3}}}, "exporters.otlp.queue_size"),
        ({"jobs": {"workers": 0}}, "jobs.workers"),
        ({"jobs": {"poll_interval_s": -0.1}}, "jobs.poll_interval_s"),
    ],
)
def test_negative_or_zero_values_refused(data, key):
    message = _error(data)
    assert message.startswith(f"{key}:"), message


def test_zero_settle_delay_and_zero_retries_are_allowed():
    cfg = config_from_dict({"session": {"settle_delay_s": 0}, "judge": {"max_retries": 0}})
    assert cfg.session.settle_delay_s == 0 and cfg.judge.max_retries == 0


@pytest.mark.parametrize(
    "data, key",
    [
        ({"receiver": {"grpc": {"endpoint": "localhost"}}}, "receiver.grpc.endpoint"),
        ({"receiver": {"grpc": {"endpoint": ":4317"}}}, "receiver.grpc.endpoint"),
        ({"receiver": {"grpc": {"endpoint": "127.0.0.1:http"}}}, "receiver.grpc.endpoint"),
        ({"receiver": {"grpc": {"endpoint": "127.0.0.1:70000"}}}, "receiver.grpc.endpoint"),
        ({"receiver": {"http": {"endpoint": "localhost"}}}, "receiver.http.endpoint"),
        ({"telemetry": {"metrics_endpoint": "0.0.0.0:metrics"}}, "telemetry.metrics_endpoint"),
        ({"control": {"endpoint": "127.0.0.1"}}, "control.endpoint"),
        ({"exporters": {"otlp": {"endpoint": "collector"}}}, "exporters.otlp.endpoint"),
        ({"exporters": {"otlp": {"compression": "zstd"}}}, "exporters.otlp.compression"),
        ({"redis": {"url": "localhost:6379"}}, "redis.url"),
        ({"redis": {"key_prefix": "a{b}"}}, "redis.key_prefix"),
        ({"redis": {"key_prefix": ""}}, "redis.key_prefix"),
        ({"redis": {"cluster": True}}, "redis.cluster"),
        ({"redis": {"cluster": True, "url": "unix:///tmp/redis.sock"}}, "redis.url"),
        ({"redis": {"url": "cluster://10.0.0.1:6379"}}, "redis.url"),
        ({"redis": {"shards": 0}}, "redis.shards"),
        ({"redis": {"shards": 1025}}, "redis.shards"),
        ({"session": {"id_attributes": []}}, "session.id_attributes"),
        # More than the span scan weighs (collector_eval/otlp/_spans.c): refused here, not per request.
        ({"session": {"id_attributes": [f"id{n}" for n in range(65)]}}, "session.id_attributes"),
        ({"session": {"end": {"tag_attributes": [f"tags{n}" for n in range(64)]}}}, "session.end.tag_attributes"),
        ({"session": {"tenant_attribute": ""}}, "session.tenant_attribute"),
        ({"session": {"end": {"attribute": ""}}}, "session.end.attribute"),
        ({"judge": {"provider": "anthropic"}}, "judge.provider"),
        ({"judge": {"provider": "azure"}}, "judge.base_url"),
        ({"judge": {"model": ""}}, "judge.model"),
        ({"evaluators": ["goal_completeness", "vibes"]}, "evaluators[1]"),
    ],
)
def test_invalid_values_name_the_dotted_key(data, key):
    message = _error(data)
    assert message.startswith(f"{key}:"), message


def test_unknown_evaluator_lists_the_known_ones():
    message = _error({"evaluators": ["vibes"]})
    assert "vibes" in message and "goal_completeness" in message


def test_valid_redis_urls_accepted():
    for url in ("redis://127.0.0.1:6379/0", "rediss://cache:6380", "unix:///tmp/redis.sock?db=0"):
        redis = config_from_dict({"redis": {"url": url}}).redis
        assert redis.url == url and not redis.is_cluster and redis.shard_count == 1


def test_a_cluster_is_named_by_its_url_scheme_or_the_cluster_flag():
    by_scheme = config_from_dict({"redis": {"url": "rediss+cluster://node-0:6379"}}).redis
    assert by_scheme.is_cluster and by_scheme.client_url == "rediss://node-0:6379" and by_scheme.shard_count == 16
    by_flag = config_from_dict({"redis": {"url": "redis://node-0:6379", "cluster": True, "shards": 5}}).redis
    assert by_flag.is_cluster and by_flag.client_url == "redis://node-0:6379" and by_flag.shard_count == 5


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("session: {settle_delay_s: 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "YAML" in str(info.value)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
